# @attack: inherited descriptors: anything of the host (a directory, a file, a socket) open in the run's processes
# @language: bash
# @lanes: host
# @contained: 1
bad=
for fd in /proc/1/fd/* /proc/self/fd/* /proc/$PPID/fd/*; do
	l=$(readlink "$fd") || continue
	case "$l" in pipe:*|/dev/null|/dev/pts/*|/ATO/*|/proc/*|anon_inode:*) ;; *) test -e "$l" && [ "$(stat -L -c %d:%i "$fd")" = "$(stat -c %d:%i "$l")" ] || bad="$bad $fd->$l";; esac
done
if [ -z "$bad" ]; then echo "CONTAINED no host descriptor"; else echo "ESCAPED$bad"; fi
