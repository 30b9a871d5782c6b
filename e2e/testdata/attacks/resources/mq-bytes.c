// @attack: POSIX message queue bytes, charged to the daemon's user (issue 10, finding 2: one run took all of host root's)
// @language: c_gcc
// @lanes: host rootless
// @options: -lrt
// @hold: yes
// @contained: 1
// Containment: what the run's queues take stays within its share of the
// daemon's user's RLIMIT_MSGQUEUE; the judge checks the daemon's user can still
// mq_open while this holds.
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
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
	long share = @@MQ_SHARE@@; struct mq_attr a = {.mq_maxmsg = 8, .mq_msgsize = 1024}; int n = 0; char name[32];
	// Never past the share and one queue: an escape takes little more of
	// the daemon's user's queue bytes than a run may.
	for (; n * 8192L <= share; n++) { snprintf(name, sizeof name, "/q%d", n); if (mq_open(name, O_CREAT | O_RDWR, 0600, &a) < 0) break; }
	int e = errno;
	printf("%s %d queues of 8 KiB (%ld bytes at least) before %s; the run's share is %ld bytes\n", n * 8192L <= share ? "CONTAINED" : "ESCAPED", n, n * 8192L, n * 8192L <= share ? strerror(e) : "stopping past the share", share);
	hold();
}
