# @attack: fill every writable filesystem at once (/, /tmp, /dev/shm, /ATO, /ATO/context): more than the run's memory
# @language: bash
# @lanes: host v2
# @status: exited/0|killed/9
# @timeout: 20
# @contained: 0
# Containment: tmpfs pages are charged to the run's memory cgroup: the run
# is stopped (ENOSPC or the OOM killer) at its memory limit, and the judge
# checks the host and the daemon after it.
for d in / /tmp /dev/shm /ATO /ATO/context; do head -c 300M /dev/zero > $d/fill 2>/dev/null; done
exit 0
