// @attack: starve the host's CPUs: SCHED_FIFO, SCHED_RR, nice -20, ioprio realtime
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <sched.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct sched_param p = {.sched_priority = 99};
	check(sched_setscheduler(0, SCHED_FIFO, &p), "SCHED_FIFO 99");
	check(sched_setscheduler(0, SCHED_RR, &p), "SCHED_RR 99");
	check(setpriority(PRIO_PROCESS, 0, -20), "nice -20");
	check(syscall(SYS_ioprio_set, 1, 0, (1 << 13) | 0), "ioprio realtime");
	return 0;
}
