# @attack: fill every writable tmpfs at once (/tmp, /dev/shm, /ATO, /ATO/context): together they hold the run's whole memory
# @language: bash
# @lanes: host v2
# @status: killed/9
# @timeout: 20
# @contained: 0
# Containment: tmpfs pages are charged to the run's memory cgroup, with no
# swap, so before what the tmpfs's hold passes the run's memory limit the
# OOM killer stops the run: killed/9 is the only contained end. The probe
# counts what it wrote and stops at the limit and 16 MiB more, so an escape
# costs the host little: it then says ESCAPED and exits. If the tmpfs's
# fill up (ENOSPC) within the limit and the run lives on, it exits too:
# its status fails the probe, since it then tested nothing. The root is
# left out: it is on disk, its page cache reclaimable (root-fill.sh).
limit=@@MEMORY_BYTES@@
budget=$((limit + (16 << 20)))
total=0
for d in /tmp /dev/shm /ATO /ATO/context; do
	head -c $((budget - total)) /dev/zero > $d/fill 2>/dev/null
	total=$((total + $(stat -c %s $d/fill 2>/dev/null || echo 0)))
	if ((total > limit)); then
		echo "ESCAPED wrote $total bytes into tmpfs's, past the run's memory limit $limit, and lives"
		rm -f /tmp/fill /dev/shm/fill /ATO/fill /ATO/context/fill
		exit 0
	fi
done
echo "the tmpfs's hold only $total bytes, within the run's memory limit $limit: nothing tested"
exit 0
