# @attack: overwrite, chmod, link and remove the host's canary file by its host path
# @language: bash
# @lanes: host rootless
# @contained: 1
# Containment: the host path is not the host's file; whatever this run makes
# at that path is in its own root (the judge compares the canary's content,
# mode, times and links, and the canary directory's entries).
if test -e @@CANARY_FILE@@; then echo "ESCAPED the canary's path exists in the run"; else echo "CONTAINED the canary's path does not exist"; fi
mkdir -p @@CANARY_DIR@@ 2>/dev/null
echo vandal > @@CANARY_FILE@@ 2>/dev/null
chmod 4777 @@CANARY_FILE@@ 2>/dev/null
ln @@CANARY_FILE@@ @@CANARY_DIR@@/hardlink 2>/dev/null
echo new > @@CANARY_DIR@@/new-file 2>/dev/null
rm -f @@CANARY_FILE@@ 2>/dev/null
exit 0
