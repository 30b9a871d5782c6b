# @attack: read the run's stdin (its input file) past its end, write to it, reopen it
# @language: bash
# @lanes: host
# @contained: 1
cat > /dev/null; echo x >&0 2>/dev/null; exec 0</ATO/input; cat /proc/self/fd/0 > /dev/null
echo "CONTAINED stdin games over"
