# @attack: 50 MB on stderr
# @language: bash
# @lanes: host
# @status: any
# @contained: 0
head -c 50000000 /dev/urandom >&2
