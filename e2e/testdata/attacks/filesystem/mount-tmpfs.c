// @attack: mount a tmpfs, a proc and a bind of / (mount(2) with and without MS_REC)
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	mkdir("/tmp/m", 0755);
	check(mount("x", "/tmp/m", "tmpfs", 0, "size=1m"), "mount tmpfs");
	check(mount("proc", "/tmp/m", "proc", 0, 0), "mount proc");
	check(mount("/", "/tmp/m", 0, MS_BIND | MS_REC, 0), "bind-mount /");
	check(mount("none", "/", 0, MS_REC | MS_SHARED, 0), "make / shared");
	return 0;
}
