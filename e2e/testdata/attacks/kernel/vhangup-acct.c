// @attack: vhangup and uselib: old interfaces a run has no use for
// @language: c_gcc
// @lanes: host
// @contained: 2
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
	check(syscall(SYS_vhangup), "vhangup");
	check(syscall(SYS_uselib, "/lib/x86_64-linux-gnu/libc.so.6"), "uselib");
	return 0;
}
