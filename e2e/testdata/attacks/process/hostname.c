// @attack: set the hostname and the domain name (the judge checks the host's own hostname after the run)
// @language: c_gcc
// @lanes: host
// @contained: 2
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
	check(sethostname("pwned", 5), "sethostname");
	check(setdomainname("pwned", 5), "setdomainname");
	return 0;
}
