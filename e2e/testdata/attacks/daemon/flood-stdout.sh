# @attack: 50 MB on stdout as fast as possible
# @language: bash
# @lanes: host
# @status: any
# @contained: 0
# Containment: the daemon sends 128 KiB and drops the rest, its memory stays
# flat (the judge checks the output size, the daemon's RSS and fds).
head -c 50000000 /dev/zero
