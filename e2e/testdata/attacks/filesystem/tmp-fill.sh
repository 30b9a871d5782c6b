# @attack: fill /tmp, /ATO and /ATO/context past their sizes
# @language: bash
# @lanes: host
# @contained: 3
for d in /tmp /ATO /ATO/context; do
	head -c 200M /dev/zero > $d/big 2>/dev/null
	size=$(stat -c %s $d/big); rm -f $d/big
	if [ "$size" -le $((64 << 20)) ]; then echo "CONTAINED $d stopped at $size bytes"; else echo "ESCAPED $d took $size bytes"; fi
done
