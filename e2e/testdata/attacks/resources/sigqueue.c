// @attack: queued signals, charged to the daemon's user (issue 10, finding 2: one run took all of host root's)
// @language: c_gcc
// @lanes: host rootless
// @hold: yes
// @contained: 1
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
int main(void) {
	long share = @@SIGPENDING_SHARE@@; sigset_t s; sigemptyset(&s); sigaddset(&s, SIGRTMIN); sigprocmask(SIG_BLOCK, &s, 0);
	union sigval v = {0}; long q = 0;
	// Never past the share and one: an escape takes little more of the
	// daemon's user's pending signals than a run may.
	for (; q <= share; q++) if (sigqueue(getpid(), SIGRTMIN, v) < 0) break;
	int e = errno;
	printf("%s queued %ld signals before %s; the run's share is %ld\n", q <= share ? "CONTAINED" : "ESCAPED", q, q <= share ? strerror(e) : "stopping past the share", share);
	hold();
}
