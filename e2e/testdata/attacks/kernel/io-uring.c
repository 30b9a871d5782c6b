// @attack: io_uring, a large kernel surface with its own history of escapes
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
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
	char params[120]; memset(params, 0, sizeof params);
	check(syscall(SYS_io_uring_setup, 8, params), "io_uring_setup");
	return 0;
}
