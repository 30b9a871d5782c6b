# @attack: host paths in the mount table (issue 10: it showed the image store, the state directory, where atod-init lives)
# @language: bash
# @lanes: host rootless
# @contained: 1
cat /proc/self/mountinfo /proc/1/mountinfo /proc/self/mounts
found=
for p in @@STATE_DIR@@ @@BIN_DIR@@ @@IMAGES@@ bash-static /var/lib/atod /run/atod @@CGROUP_NAME@@; do
	grep -qF -- "$p" /proc/self/mountinfo /proc/1/mountinfo && found="$found $p"
done
if [ -z "$found" ]; then echo "CONTAINED the mount table names no host path"; else echo "ESCAPED the mount table names$found"; fi
