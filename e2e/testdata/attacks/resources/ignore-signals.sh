# @attack: ignore every catchable signal and spin past the timeout, in the background too
# @language: bash
# @lanes: host
# @status: killed/9
# @timed-out: yes
# @timeout: 2
# @contained: 1
trap '' TERM INT HUP QUIT USR1 USR2 PIPE ALRM
(trap '' TERM INT HUP; while :; do :; done) &
echo "CONTAINED ignoring signals"
while :; do :; done
