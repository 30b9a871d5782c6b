// @attack: ptrace pid 1 and the host canary; PTRACE_TRACEME
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <sys/ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(ptrace(PTRACE_ATTACH, 1, 0, 0), "ptrace attach pid 1");
	check(ptrace(PTRACE_SEIZE, @@CANARY_PID@@, 0, 0), "ptrace seize the canary");
	check(ptrace(PTRACE_TRACEME, 0, 0, 0), "ptrace traceme");
	return 0;
}
