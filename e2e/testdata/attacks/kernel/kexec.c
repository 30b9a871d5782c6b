// @attack: kexec_load and kexec_file_load with invalid flags (EPERM if contained; EINVAL would mean the privilege check passed)
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
static void perm(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 && e != EINVAL && e != EBADF ? "CONTAINED" : "ESCAPED", what, strerror(e)); }
int main(void) {
	perm(syscall(SYS_kexec_load, 0, 0, 0, 0xdead0000UL), "kexec_load");
	perm(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0xdead0000UL), "kexec_file_load");
	return 0;
}
