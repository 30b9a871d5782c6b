// @attack: spin on more threads than the host has CPUs for 1.2 s
// @language: c_gcc
// @lanes: host v2
// @options: -pthread
// @contained: 1
// Containment: the run's CPU quota (1 CPU): its CPU time stays near its wall time.
// Not contained once in the VM lane (cgroup v2 under TCG on a loaded host):
// 2.88 s of CPU in 2.14 s; whether the quota or the emulated clock is at
// fault is not known yet (issue 10), so the probe stays as it is and fails.
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
static volatile int stop;
static void *spin(void *a) { while (!stop); return a; }
int main(void) {
	struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t t[8]; for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, spin, 0);
	usleep(1200000); stop = 1; for (int i = 0; i < 8; i++) pthread_join(t[i], 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct rusage u; getrusage(RUSAGE_SELF, &u);
	double wall = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
	printf("%s %.2f s of CPU in %.2f s\n", cpu <= wall * 1.2 ? "CONTAINED" : "ESCAPED", cpu, wall);
	return 0;
}
