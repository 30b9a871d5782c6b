// @attack: the legacy vsyscall page (time) and sysenter from 64-bit code: neither may bypass the filter
// @language: c_gcc
// @lanes: host
// @status: exited/0|killed/11
// @contained: 0
// Containment: either the vsyscall page is absent or emulated (the run dies
// with SIGSEGV, or gets the time), but it adds no syscall seccomp does not see.
#define _GNU_SOURCE
#include <time.h>
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
	time_t (*vtime)(time_t *) = (void *)0xffffffffff600400UL;
	printf("vsyscall time: %ld\n", (long)vtime(0));
	return 0;
}
