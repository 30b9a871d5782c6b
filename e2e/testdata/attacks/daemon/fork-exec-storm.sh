# @attack: short-lived processes, as many as 3 s allow (pid churn, cgroup accounting)
# @language: bash
# @lanes: host
# @timeout: 20
# @contained: 1
n=0; end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do /bin/true; ( : ); n=$((n + 2)); done
echo "CONTAINED ran $n processes in 3 s"