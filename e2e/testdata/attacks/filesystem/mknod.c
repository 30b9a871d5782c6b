// @attack: make device nodes: a disk (block 8:0), /dev/mem (char 1:1), /dev/kmsg (char 1:11)
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)), "mknod block 8:0");
	check(mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)), "mknod char 1:1");
	check(mknod("/dev/kmsg", S_IFCHR | 0600, makedev(1, 11)), "mknod /dev/kmsg");
	return 0;
}
