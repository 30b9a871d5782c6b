// @attack: change the root: chroot and pivot_root
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	mkdir("/tmp/jail", 0755);
	check(chroot("/tmp/jail"), "chroot");
	mkdir("/tmp/old", 0755);
	check(syscall(SYS_pivot_root, "/tmp", "/tmp/old"), "pivot_root");
	return 0;
}
