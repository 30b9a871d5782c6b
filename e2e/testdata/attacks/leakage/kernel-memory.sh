# @attack: read kernel memory and addresses: /proc/kcore, /proc/kallsyms, /proc/modules, /proc/iomem, /proc/timer_list, /proc/sched_debug
# @language: bash
# @lanes: host
# @contained: 3
n=0; for f in /proc/kcore /proc/kallsyms /proc/timer_list /proc/sched_debug /proc/keys; do n=$((n + $(head -c 4096 $f 2>/dev/null | wc -c))); done
if [ "$n" = 0 ]; then echo "CONTAINED the masked /proc files are empty"; else echo "ESCAPED read $n bytes of masked /proc files"; fi
addrs=$( { cat /proc/kallsyms; cat /proc/modules; } 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(0x)?ffff[0-9a-f]{12}$/ && $i !~ /^(0x)?f+$/) print $i}' | grep -vc '^0*$')
if [ "$addrs" = 0 ]; then echo "CONTAINED no kernel addresses"; else echo "ESCAPED $addrs kernel addresses"; fi
iomem=$(grep -cvE '^ *0+-0+ :' /proc/iomem 2>/dev/null)
if [ "$iomem" = 0 ]; then echo "CONTAINED no physical memory map"; else echo "ESCAPED $iomem lines of /proc/iomem with addresses"; fi
