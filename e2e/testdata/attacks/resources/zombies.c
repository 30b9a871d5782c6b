// @attack: leave 100 zombies and 20 orphans behind at exit
// @language: c_gcc
// @lanes: host
// @contained: 1
// Containment: the judge finds no process of the run left on the host.
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
	for (int i = 0; i < 100; i++) if (fork() == 0) _exit(0);
	for (int i = 0; i < 20; i++) if (fork() == 0) { if (fork() == 0) { for (;;) pause(); } _exit(0); }
	printf("CONTAINED left zombies and orphans\n");
	return 0;
}
