# @attack: leave symlinks and hard links to host paths where the daemon cleans up after the run (its upper layer, /ATO, /tmp)
# @language: bash
# @lanes: host
# @contained: 1
# Containment: the judge checks after the run that the canary and its
# directory are as they were and that the run left nothing behind.
for d in / /tmp /ATO /ATO/context /dev/shm /etc; do
	ln -s @@CANARY_FILE@@ $d/to-canary 2>/dev/null
	ln -s @@CANARY_DIR@@ $d/to-canary-dir 2>/dev/null
	ln -s @@STATE_DIR@@ $d/to-state 2>/dev/null
	ln -s / $d/to-root 2>/dev/null
done
mkdir -p "/deep/$(printf 'd/%.0s' $(seq 300))"
mkdir -p /locked/inner && : > /locked/inner/f && chmod 000 /locked/inner /locked
echo "CONTAINED left links and locked directories for the cleanup"
