// @attack: open files until open fails
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <fcntl.h>
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
	int n = 0; while (n < 1000000 && open("/dev/null", O_RDONLY) >= 0) n++;
	int e = errno;
	printf("%s opened %d files before %s\n", n <= 4096 ? "CONTAINED" : "ESCAPED", n, strerror(e));
	return 0;
}
