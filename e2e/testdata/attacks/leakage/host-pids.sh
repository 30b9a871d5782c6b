# @attack: see the host's processes: count them, look at the largest pid, read pid 1's command line
# @language: bash
# @lanes: host
# @contained: 2
n=$(ls /proc | grep -cE '^[0-9]+$')
if [ "$n" -lt 20 ]; then echo "CONTAINED $n processes visible"; else echo "ESCAPED $n processes visible"; fi
init=$(tr '\0' ' ' < /proc/1/cmdline)
case "$init" in /ATO/yargs*) echo "CONTAINED pid 1 is the run's init";; *) echo "ESCAPED pid 1 is $init";; esac
