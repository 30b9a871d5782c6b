# @attack: change the runner contract's files and the daemon's binaries mounted into the run (/ATO/code, runner, yargs, bash)
# @language: bash
# @lanes: host rootless
# @contained: 6
# Containment: each file is a read-only bind mount. The probe only asks
# whether it could write: access(W_OK) (test -w), then an open for appending
# that writes nothing (O_APPEND, no O_TRUNC, and only on a file that is
# there, so O_CREAT creates nothing). Escaped, it would still change nothing:
# yargs and bash are the daemon's binaries on the host.
for f in /ATO/code /ATO/runner /ATO/input /ATO/arguments /ATO/yargs /ATO/bash; do
	if test -w "$f"; then
		echo "ESCAPED $f is writable (access W_OK)"
	elif test -e "$f" && { : >> "$f"; } 2>/dev/null; then
		echo "ESCAPED $f opened for writing"
	else
		echo "CONTAINED $f is read-only"
	fi
done
