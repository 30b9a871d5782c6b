// @attack: fanotify: a privileged group, and an unprivileged one (FAN_REPORT_FID), whose count is charged to the daemon's user
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sys/fanotify.h>
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
	check(fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), "fanotify_init");
	check(fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID, O_RDONLY), "fanotify_init FAN_REPORT_FID");
	return 0;
}
