// @attack: remount read-only mounts writable: /proc/sys, /ATO/runner, /ATO/yargs
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(mount(0, "/proc/sys", 0, MS_REMOUNT | MS_BIND, 0), "remount /proc/sys rw");
	check(mount(0, "/ATO/runner", 0, MS_REMOUNT | MS_BIND, 0), "remount /ATO/runner rw");
	check(mount(0, "/ATO/yargs", 0, MS_REMOUNT | MS_BIND, 0), "remount /ATO/yargs rw");
	return 0;
}
