// @attack: kill the host's canary process and the daemon by their host pids
// @language: c_gcc
// @lanes: host rootless
// @contained: 3
// Containment: the run's pid namespace has no such processes (the judge
// also checks that the canary still lives and the daemon answers).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(kill(@@CANARY_PID@@, 0), "signal 0 to the canary's pid");
	check(kill(@@CANARY_PID@@, SIGKILL), "SIGKILL to the canary's pid");
	check(kill(@@DAEMON_PID@@, SIGKILL), "SIGKILL to the daemon's pid");
	return 0;
}
