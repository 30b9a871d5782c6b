// @attack: spin on more threads than the host has CPUs for 1.2 s
// @language: c_gcc
// @lanes: host v2
// @options: -pthread
// @contained: 1
// Containment: the run's CPU quota (1 CPU). The probe measures the CPUs it
// got as work done, not as CPU time: one thread's spinning rate alone (the
// best of three tries right before and three right after, so that a busy
// neighbour during one of them does not make the 8 threads look fast), then
// the work of 8 threads spinning together, over the same monotonic clock.
// Under the quota they do about one thread's work; escaping, as many
// threads' as the host has CPUs (2 here). On a host with one CPU there is
// nothing to exceed, and it says so (CONTAINED, "one CPU"). A probe
// that compared CPU time (getrusage) with wall time once saw 2.88 s in
// 2.14 s in the VM lane, where the emulated machine's scheduler clock and
// its monotonic clock drift apart; work against one clock does not depend
// on that.
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>
static volatile int stop;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *spin(void *a) { unsigned long n = 0; while (!stop) n++; *(unsigned long *)a = n; return a; }
// alone is one thread's best spinning rate in three tries.
static double alone(void) {
	double rate = 0;
	for (int k = 0; k < 3; k++) {
		unsigned long n = 0; pthread_t t;
		stop = 0; double t0 = now(); pthread_create(&t, 0, spin, &n);
		struct timespec d = {0, 100000000}; nanosleep(&d, 0); // not spinning here: that would halve the rate
		stop = 1; pthread_join(t, 0);
		double r = n / (now() - t0);
		if (r > rate) rate = r;
	}
	return rate;
}
int main(void) {
	long cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus_online < 2) {
		printf("CONTAINED one CPU: nothing to exceed\n");
		return 0;
	}
	double rate = alone();
	unsigned long work[8] = {0}; pthread_t t[8];
	stop = 0; double t0 = now();
	for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, spin, &work[i]);
	struct timespec d = {1, 200000000}; nanosleep(&d, 0);
	stop = 1; for (int i = 0; i < 8; i++) pthread_join(t[i], 0);
	double wall = now() - t0, total = 0, after = alone();
	if (after > rate) rate = after;
	for (int i = 0; i < 8; i++) total += work[i];
	double cpus = total / (rate * wall);
	printf("%s %.2f CPUs' work in %.2f s (the host has %ld)\n", cpus <= 1.5 ? "CONTAINED" : "ESCAPED", cpus, wall, cpus_online);
	return 0;
}
