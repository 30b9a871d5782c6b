// @attack: raw I/O ports: iopl(3) and ioperm
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sys/io.h>
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
	check(iopl(3), "iopl(3)");
	check(ioperm(0x80, 1, 1), "ioperm(0x80)");
	return 0;
}
