// @attack: inotify instances, charged to the daemon's user (issue 10, finding 2: one run took all 128 of host root's)
// @language: c_gcc
// @lanes: host
// @hold: yes
// @contained: 1
#define _GNU_SOURCE
#include <sys/inotify.h>
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
	long share = @@INOTIFY_SHARE@@; int n = 0;
	// Never past the share and one: an escape takes little more of the
	// host's per-user pool than a run may.
	for (; n <= share; n++) if (inotify_init1(0) < 0) break;
	int e = errno;
	printf("%s made %d inotify instances before %s; the run's share is %ld\n", n <= share ? "CONTAINED" : "ESCAPED", n, n <= share ? strerror(e) : "stopping past the share", share);
	hold();
}
