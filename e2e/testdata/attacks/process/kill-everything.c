// @attack: kill(-1): signal every process the caller may, and see whether the host's are among them
// @language: c_gcc
// @lanes: host
// @contained: 2
// Containment: only the run's own processes are in reach. The broadcast
// sends SIGURG, whose default action is to be ignored, so that an escape
// would disturb nothing (a kill(-1, SIGKILL) that escaped would take the
// whole host); whether it could have reached the host is asked by signal 0
// to the canary and the daemon, which must not exist in the run's pid
// namespace (ESRCH). The judge also checks that both still live.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
static void unreachable(pid_t pid, const char *what) {
	long r = kill(pid, 0); int e = errno;
	if (r < 0 && e == ESRCH) printf("CONTAINED signal 0 to %s (host pid %d): %s\n", what, pid, strerror(e));
	else printf("ESCAPED signal 0 to %s (host pid %d): %s\n", what, pid, r < 0 ? strerror(e) : "delivered");
}
int main(void) {
	signal(SIGURG, SIG_IGN);
	long r = kill(-1, SIGURG);
	printf("kill(-1, SIGURG): %s\n", r < 0 ? strerror(errno) : "sent");
	unreachable(@@CANARY_PID@@, "the canary");
	unreachable(@@DAEMON_PID@@, "the daemon");
	return 0;
}
