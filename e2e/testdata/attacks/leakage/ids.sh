# @attack: see the host's users and ids: the uid map's extent, /etc/passwd of the host, the groups of the run
# @language: bash
# @lanes: host
# @contained: 2
ext=$(awk '{n += $3} END {print n}' /proc/self/uid_map)
if [ "$ext" -le 2 ]; then echo "CONTAINED the uid map maps $ext ids"; else echo "ESCAPED the uid map maps $ext ids"; fi
if grep -qE '^atod|^_atod' /etc/passwd; then echo "ESCAPED the host's users are in /etc/passwd"; else echo "CONTAINED the image's own /etc/passwd"; fi
