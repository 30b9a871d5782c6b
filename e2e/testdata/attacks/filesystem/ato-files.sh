# @attack: change the runner contract's files and the daemon's binaries mounted into the run (/ATO/code, runner, yargs, bash)
# @language: bash
# @lanes: host rootless
# @contained: 6
for f in /ATO/code /ATO/runner /ATO/input /ATO/arguments /ATO/yargs /ATO/bash; do
	if { : >> "$f"; } 2>/dev/null || chmod 777 "$f" 2>/dev/null || rm -f "$f" 2>/dev/null && ! test -e "$f"; then
		echo "ESCAPED changed $f"
	else
		echo "CONTAINED $f is read-only"
	fi
done
