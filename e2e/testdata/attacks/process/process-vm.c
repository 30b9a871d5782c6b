// @attack: read and write other processes' memory: process_vm_readv, process_vm_writev, /proc/1/mem, kcmp
// @language: c_gcc
// @lanes: host
// @contained: 4
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	char buf[16]; struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
	check(process_vm_readv(1, &l, 1, &r, 1, 0), "process_vm_readv of pid 1");
	check(process_vm_writev(1, &l, 1, &r, 1, 0), "process_vm_writev of pid 1");
	int fd = open("/proc/1/mem", O_RDWR);
	check(fd, "open /proc/1/mem read-write");
	check(syscall(SYS_kcmp, getpid(), 1, 0, 0, 0), "kcmp with pid 1");
	return 0;
}
