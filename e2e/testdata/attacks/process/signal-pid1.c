// @attack: stop and kill the run's init (pid 1) from inside
// @language: c_gcc
// @lanes: host
// @contained: 2
// Containment: an init ignores SIGKILL and SIGSTOP from its own namespace;
// the run ends as its program does.
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
	kill(1, SIGSTOP); kill(1, SIGKILL);
	usleep(100000);
	char s[256] = ""; FILE *f = fopen("/proc/1/stat", "r");
	if (f) { fgets(s, sizeof s, f); fclose(f); }
	char *st = strrchr(s, ')');
	printf("%s pid 1 state %c after SIGSTOP and SIGKILL\n", st && st[2] != 'T' && st[2] != 'Z' ? "CONTAINED" : "ESCAPED", st ? st[2] : '?');
	printf("CONTAINED pid 1 outlived SIGKILL\n");
	return 0;
}
