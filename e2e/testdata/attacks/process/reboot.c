// @attack: reboot(2), with a wrong magic so that an escape is detected but does nothing (EPERM before EINVAL)
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
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	long r = syscall(SYS_reboot, 0xfee1dead, 0x12345678, 0, 0);
	int e = errno;
	printf("%s reboot: %s\n", r < 0 && e != EINVAL ? "CONTAINED" : "ESCAPED", strerror(e));
	return 0;
}
