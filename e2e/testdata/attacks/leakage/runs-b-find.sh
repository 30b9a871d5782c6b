# @attack: find files an earlier run left (runs-a-plant planted them)
# @language: bash
# @lanes: host
# @contained: 1
found=$(ls /atod-attack-planted /tmp/atod-attack-planted /dev/shm/atod-attack-planted /ATO/atod-attack-planted /ATO/context/atod-attack-planted /etc/atod-attack-planted /var/tmp/atod-attack-planted /root/atod-attack-planted 2>/dev/null)
if [ -z "$found" ]; then echo "CONTAINED nothing of the earlier run"; else echo "ESCAPED found $found"; fi
