// @attack: userfaultfd (a tool for winning kernel races), by the syscall and by /dev/userfaultfd
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
int main(void) {
	check(syscall(SYS_userfaultfd, O_CLOEXEC), "userfaultfd");
	check(syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */), "userfaultfd user-mode only");
	check(open("/dev/userfaultfd", O_RDWR), "open /dev/userfaultfd");
	return 0;
}
