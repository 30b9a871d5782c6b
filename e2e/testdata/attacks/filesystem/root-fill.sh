# @attack: fill the writable root (the overlay's upper tmpfs) past root_mib
# @language: bash
# @lanes: host
# @contained: 1
head -c $((2 * @@ROOT_BYTES@@)) /dev/zero > /big 2>/dev/null
size=$(stat -c %s /big); rm -f /big
if [ "$size" -le @@ROOT_BYTES@@ ]; then echo "CONTAINED / stopped at $size bytes"; else echo "ESCAPED / took $size bytes"; fi
