// @attack: as many processes as fork gives, all kept alive
// @language: c_gcc
// @lanes: host v2
// @hold: yes
// @timeout: 20
// @contained: 1
// Containment: fork fails at the run's pids limit (256 tasks).
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
	int n = 0;
	for (; n < 5000; n++) { pid_t p = fork(); if (p == 0) for (;;) pause(); if (p < 0) break; }
	int e = errno;
	printf("%s fork stopped after %d children: %s\n", n < 256 ? "CONTAINED" : "ESCAPED", n, strerror(e));
	hold();
}
