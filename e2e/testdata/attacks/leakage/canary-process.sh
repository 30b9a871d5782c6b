# @attack: find the host's canary process: by its pid under /proc, by name, and its environment
# @language: bash
# @lanes: host
# @contained: 2
if cat /proc/@@CANARY_PID@@/cmdline 2>/dev/null | tr '\0' ' ' | grep -q 'sleep 100000'; then echo "ESCAPED the canary process is visible"; else echo "CONTAINED no canary at its pid"; fi
cat /proc/@@CANARY_PID@@/environ 2>/dev/null
seen=
for c in /proc/[0-9]*/cmdline; do [ "$(tr '\0' ' ' < "$c" 2>/dev/null)" = "sleep 100000 " ] && seen=$c; done
if [ -n "$seen" ]; then echo "ESCAPED the canary is $seen"; else echo "CONTAINED no host processes by command line"; fi
