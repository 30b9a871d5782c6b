// @attack: read and write processes' memory: process_vm_readv, process_vm_writev, kcmp, /proc/1/mem
// @language: c_gcc
// @lanes: host
// @contained: 4
// Containment: the filter refuses process_vm_readv, process_vm_writev and
// kcmp with EPERM. They aim at the probe's own memory, which the kernel
// itself would allow: only the filter's EPERM counts as contained. pid 1
// (the run's init) is not the caller's to open read-write: it is not
// dumpable and not the run's user's to trace.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/uio.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
static void want_eperm(long r, const char *what) {
	int e = errno;
	if (r < 0 && e == EPERM) printf("CONTAINED %s: %s, the filter's answer\n", what, strerror(e));
	else printf("ESCAPED %s: %s\n", what, r < 0 ? strerror(e) : "succeeded");
	fflush(stdout);
}
static char target[16] = "atod-attack";
int main(void) {
	char buf[16]; struct iovec l = {buf, sizeof buf}, r = {target, sizeof target};
	want_eperm(process_vm_readv(getpid(), &l, 1, &r, 1, 0), "process_vm_readv of its own memory");
	want_eperm(process_vm_writev(getpid(), &l, 1, &r, 1, 0), "process_vm_writev of its own memory");
	want_eperm(syscall(SYS_kcmp, getpid(), getpid(), 1 /* KCMP_VM */, 0, 0), "kcmp of itself");
	int fd = open("/proc/1/mem", O_RDWR); int e = errno;
	printf("%s open /proc/1/mem read-write: %s\n", fd < 0 ? "CONTAINED" : "ESCAPED", fd < 0 ? strerror(e) : "opened");
	return 0;
}
