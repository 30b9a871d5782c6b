// @attack: join other namespaces: pid 1's (the run's own init) and the host canary's by their /proc files
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	const char *ns[] = {"user", "mnt", "net"};
	for (int i = 0; i < 3; i++) {
		char p[64], what[64]; snprintf(p, sizeof p, "/proc/1/ns/%s", ns[i]);
		int fd = open(p, O_RDONLY);
		snprintf(what, sizeof what, "setns to pid 1's %s namespace", ns[i]);
		check(fd < 0 ? -1 : setns(fd, 0), what);
	}
	check(open("/proc/@@CANARY_PID@@/ns/mnt", O_RDONLY), "open the canary's mount namespace");
	return 0;
}
