// @attack: raise hard rlimits: open files, processes, locked memory, message queues, pending signals
// @language: c_gcc
// @lanes: host
// @contained: 5
#define _GNU_SOURCE
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void raise_(int r, const char *what) {
	struct rlimit l; getrlimit(r, &l);
	l.rlim_max = l.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : l.rlim_max * 16 + 1024; l.rlim_cur = l.rlim_max;
	long rc = setrlimit(r, &l);
	if (l.rlim_max == RLIM_INFINITY) { printf("CONTAINED %s: already unlimited, bounded elsewhere\n", what); return; }
	check(rc, what);
}
int main(void) {
	raise_(RLIMIT_NOFILE, "raise RLIMIT_NOFILE");
	raise_(RLIMIT_MEMLOCK, "raise RLIMIT_MEMLOCK");
	raise_(RLIMIT_MSGQUEUE, "raise RLIMIT_MSGQUEUE");
	raise_(RLIMIT_SIGPENDING, "raise RLIMIT_SIGPENDING");
	raise_(RLIMIT_RTPRIO, "raise RLIMIT_RTPRIO");
	return 0;
}
