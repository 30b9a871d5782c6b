# @attack: leave files for the next run in every writable place (runs-b-find looks for them)
# @language: bash
# @lanes: host
# @contained: 1
for d in / /tmp /dev/shm /ATO /ATO/context /etc /var/tmp /root; do echo planted > $d/atod-attack-planted 2>/dev/null; done
echo "CONTAINED planted files"
