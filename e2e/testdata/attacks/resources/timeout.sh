# @attack: run past the timeout
# @language: bash
# @lanes: host
# @status: killed/9
# @timed-out: yes
# @timeout: 2
# @contained: 1
echo "CONTAINED sleeping past the timeout"
sleep 100
