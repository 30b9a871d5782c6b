// @attack: perf_event_open: a software counter on self and a CPU-wide one
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct perf_event_attr a; memset(&a, 0, sizeof a); a.size = sizeof a; a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CPU_CLOCK;
	check(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0), "perf_event_open on self");
	check(syscall(SYS_perf_event_open, &a, -1, 0, -1, 0), "perf_event_open on CPU 0");
	return 0;
}
