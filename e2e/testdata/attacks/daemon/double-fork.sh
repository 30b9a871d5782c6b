# @attack: daemonise: double fork, setsid, nohup, disown, closed descriptors
# @language: bash
# @lanes: host v2 rootless
# @contained: 1
setsid sh -c 'sleep 1000 &' </dev/null >/dev/null 2>&1
nohup sleep 1000 </dev/null >/dev/null 2>&1 &
disown
(exec setsid sleep 1000 </dev/null >/dev/null 2>&1 &)
echo "CONTAINED daemonised"
