// @attack: POSIX timers, each holding a preallocated queued signal charged to the daemon's user
// @language: c_gcc
// @lanes: host
// @options: -lrt
// @hold: yes
// @contained: 1
#define _GNU_SOURCE
#include <time.h>
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
	long share = @@SIGPENDING_SHARE@@, n = 0; timer_t t;
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	// Never past the share and one: an escape takes little more of the
	// daemon's user's pending signals than a run may.
	for (; n <= share; n++) if (timer_create(CLOCK_MONOTONIC, &ev, &t) < 0) break;
	int e = errno;
	printf("%s made %ld timers before %s; the run's share of pending signals is %ld\n", n <= share ? "CONTAINED" : "ESCAPED", n, n <= share ? strerror(e) : "stopping past the share", share);
	hold();
}
