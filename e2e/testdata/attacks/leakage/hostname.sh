# @attack: learn the host's name
# @language: bash
# @lanes: host
# @contained: 1
names="$(hostname) $(uname -n) $(cat /proc/sys/kernel/hostname)"
if [ "$names" = "ato ato ato" ]; then echo "CONTAINED the hostname is ato"; else echo "ESCAPED hostnames: $names"; fi
