// @attack: change identity: setuid/setgid to other ids, setgroups, setresuid to the overflow uid
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(setuid(1000), "setuid(1000)");
	check(setgid(1000), "setgid(1000)");
	gid_t g[] = {0, 1000}; check(setgroups(2, g), "setgroups");
	check(setresuid(65534, 65534, 65534), "setresuid(65534)");
	return 0;
}
