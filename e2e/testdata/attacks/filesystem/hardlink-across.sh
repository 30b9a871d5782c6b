# @attack: hard-link the daemon's files into writable places, to write them through the link
# @language: bash
# @lanes: host
# @contained: 2
for f in /ATO/yargs /ATO/bash; do
	if ln "$f" /ATO/link 2>/dev/null && { : >> /ATO/link; } 2>/dev/null; then echo "ESCAPED writable link to $f"; else echo "CONTAINED no writable link to $f"; fi
	rm -f /ATO/link
done
