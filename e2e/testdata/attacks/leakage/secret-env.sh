# @attack: find the daemon's secrets: its environment, every process's environment and command line
# @language: bash
# @lanes: host
# @contained: 1
# Containment: nothing of the daemon's environment reaches the run (the
# judge checks that the secret it gave the daemon is in no output).
env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n'
if env | grep -q '^ATOD_'; then echo "ESCAPED an ATOD_ variable"; else echo "CONTAINED no daemon variables"; fi
