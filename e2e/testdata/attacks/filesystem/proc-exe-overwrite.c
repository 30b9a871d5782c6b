// @attack: overwrite the binary behind /proc/1/exe and /proc/self/exe (runc CVE-2019-5736): the daemon's atod-init copy and the static Bash
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	char p[64];
	check(open("/proc/1/exe", O_WRONLY), "open /proc/1/exe (atod-init) for writing");
	snprintf(p, sizeof p, "/proc/%d/exe", getppid());
	check(open(p, O_WRONLY), "open the parent's exe for writing");
	check(open("/ATO/bash", O_RDWR), "open /ATO/bash for writing");
	return 0;
}
