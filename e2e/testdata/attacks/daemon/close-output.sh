# @attack: close stdout and stderr at once, then keep running for a moment and exit non-zero
# @language: bash
# @lanes: host
# @status: exited/3
# @contained: 1
echo "CONTAINED closing the output"
exec >&- 2>&-
sleep 0.5
exit 3
