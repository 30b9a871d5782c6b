# @attack: kill the host's canary process and the daemon by their host pids
# @language: bash
# @lanes: host rootless
# @contained: 3
# Containment: the run's pid namespace has no such processes (the judge also
# checks that the canary still lives and the daemon answers). Rootless, the
# canary runs as the daemon's user, the runs' own uid on the host: only the
# pid namespace keeps them apart.
try() { if kill "$1" "$2" 2>/dev/null; then echo "ESCAPED $3"; else echo "CONTAINED $3: no such process"; fi; }
try -0 @@CANARY_PID@@ "signal 0 to the canary's pid"
try -KILL @@CANARY_PID@@ "SIGKILL to the canary's pid"
try -KILL @@DAEMON_PID@@ "SIGKILL to the daemon's pid"
