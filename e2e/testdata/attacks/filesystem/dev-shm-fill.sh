# @attack: fill /dev/shm past its size
# @language: bash
# @lanes: host
# @contained: 1
head -c 200M /dev/zero > /dev/shm/big 2>/dev/null
size=$(stat -c %s /dev/shm/big); rm -f /dev/shm/big
if [ "$size" -le $((64 << 20)) ]; then echo "CONTAINED /dev/shm stopped at $size bytes"; else echo "ESCAPED /dev/shm took $size bytes"; fi
