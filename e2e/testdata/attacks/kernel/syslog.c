// @attack: the kernel log: read it all (syslog(2)), set the console's log level, open /dev/kmsg
// @language: c_gcc
// @lanes: host
// @contained: 3
// Containment: syslog(2) is refused (EPERM) and /dev/kmsg is not in the
// run's /dev. The console level is asked for with an invalid level (9):
// the kernel checks privilege first (EPERM) and the level after (EINVAL),
// so EINVAL would mean the privilege check passed, and nothing changes
// either way.
#define _GNU_SOURCE
#include <sys/klog.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	char b[256];
	check(klogctl(3 /* READ_ALL */, b, sizeof b), "syslog read all");
	long r = klogctl(8 /* CONSOLE_LEVEL */, 0, 9 /* invalid */); int e = errno;
	if (r < 0 && e != EINVAL) printf("CONTAINED syslog console level: %s\n", strerror(e));
	else printf("ESCAPED syslog console level: %s\n", r < 0 ? "EINVAL, past the privilege check" : "set");
	check(open("/dev/kmsg", O_RDONLY), "open /dev/kmsg");
	return 0;
}
