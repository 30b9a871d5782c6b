// @attack: load and unload kernel modules (with arguments that do nothing if the privilege check passed)
// @language: c_gcc
// @lanes: host
// @contained: 3
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
static void perm(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 && (e == EPERM || e == ENOSYS) ? "CONTAINED" : "ESCAPED", what, strerror(e)); }
int main(void) {
	perm(syscall(SYS_init_module, "", 0, ""), "init_module");
	perm(syscall(SYS_finit_module, -1, "", 0), "finit_module");
	perm(syscall(SYS_delete_module, "atod_no_such_module", O_NONBLOCK), "delete_module");
	return 0;
}
