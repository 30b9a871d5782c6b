// @attack: personality flags (no ASLR, READ_IMPLIES_EXEC, 32-bit) and then exec: the filter and no_new_privs must still hold
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <sys/personality.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC | PER_LINUX32);
	execl("/bin/sh", "sh", "-c", "grep -qx 'Seccomp:\t2' /proc/self/status && grep -qx 'NoNewPrivs:\t1' /proc/self/status && echo 'CONTAINED seccomp and no_new_privs after personality and exec' || echo 'ESCAPED lost the filter'", (char *)0);
	return 1;
}
