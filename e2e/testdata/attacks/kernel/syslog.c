// @attack: read and clear the kernel log: syslog(2) and /dev/kmsg
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <sys/klog.h>
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
	char b[256];
	check(klogctl(3 /* READ_ALL */, b, sizeof b), "syslog read all");
	check(klogctl(6 /* CONSOLE_OFF */, 0, 0) < 0 && errno != EINVAL ? -1 : 0, "syslog console off");
	check(open("/dev/kmsg", O_RDONLY), "open /dev/kmsg");
	return 0;
}
