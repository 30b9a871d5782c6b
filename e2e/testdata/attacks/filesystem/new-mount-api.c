// @attack: the new mount API: fsopen, open_tree (a detached copy of /), fspick, mount_setattr
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(syscall(SYS_fsopen, "tmpfs", 0), "fsopen tmpfs");
	check(syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | 0x8000 /* AT_RECURSIVE */), "open_tree clone of /");
	check(syscall(SYS_fspick, AT_FDCWD, "/proc/sys", 0), "fspick /proc/sys");
	struct { unsigned long long set, clr, prop, userns; } a = {0, 1 /* MOUNT_ATTR_RDONLY */, 0, 0};
	check(syscall(SYS_mount_setattr, AT_FDCWD, "/proc/sys", 0, &a, sizeof a), "mount_setattr clear ro on /proc/sys");
	return 0;
}
