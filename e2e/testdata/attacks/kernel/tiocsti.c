// @attack: TIOCSTI and TIOCLINUX: push keystrokes into a terminal (the daemon's, if one leaked in), and open the controlling tty
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sys/ioctl.h>
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
	char c = 'x'; long worst = -1;
	for (int fd = 0; fd < 3; fd++) if (ioctl(fd, TIOCSTI, &c) == 0) worst = 0;
	check(worst, "TIOCSTI on stdin, stdout or stderr");
	check(open("/dev/tty", O_RDWR), "open the controlling terminal");
	return 0;
}
