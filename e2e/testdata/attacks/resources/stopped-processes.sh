# @attack: processes stopped with SIGSTOP, and one ignoring TERM, HUP and INT, left at exit: the run's end must still reach them
# @language: bash
# @lanes: host v2
# @contained: 1
for i in 1 2 3 4 5; do sleep 1000 & kill -STOP $!; done
(trap '' TERM HUP INT; sleep 1000) &
echo "CONTAINED left stopped processes"
