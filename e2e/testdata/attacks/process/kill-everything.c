// @attack: kill(-1, SIGKILL): every process the caller may signal
// @language: c_gcc
// @lanes: host
// @contained: 1
// Containment: only the run's own processes are in reach (the judge checks
// the canary and the daemon); the caller itself survives to say so.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	kill(-1, SIGKILL);
	printf("CONTAINED kill(-1) returned to the caller\n");
	return 0;
}
