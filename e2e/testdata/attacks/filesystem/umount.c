// @attack: unmount what hides or guards things: the /ATO files, masked /proc paths, /proc itself, the root
// @language: c_gcc
// @lanes: host
// @contained: 5
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(umount2("/ATO/code", MNT_DETACH), "umount /ATO/code");
	check(umount2("/proc/kcore", MNT_DETACH), "umount the mask on /proc/kcore");
	check(umount2("/proc/sys", MNT_DETACH), "umount read-only /proc/sys");
	check(umount2("/proc", MNT_DETACH), "umount /proc");
	check(umount2("/", MNT_DETACH), "umount /");
	return 0;
}
