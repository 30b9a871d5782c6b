# @attack: end the program while background processes still hold stdout and stderr open
# @language: bash
# @lanes: host
# @timeout: 10
# @contained: 1
# Containment: the run ends when its program does (not at the timeout) and
# nothing of it outlives the answer.
sleep 1000 & sleep 1000 >&2 &
echo "CONTAINED left holders of the output"
