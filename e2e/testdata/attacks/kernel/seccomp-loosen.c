// @attack: loosen the sandbox's seccomp filter: install an allow-all filter on top, then retry calls the sandbox refuses
// @language: c_gcc
// @lanes: host
// @contained: 2
// Containment: stacked filters all run and the strictest answer wins, so
// after the allow-all filter the sandbox's answers still come back:
// unshare(CLONE_NEWUSER) fails with EPERM and io_setup with ENOSYS. Without
// the sandbox's filter, both succeed (or unshare fails some other way, after
// the kernel's own checks), so only those errnos count as contained.
#define _GNU_SOURCE
#include <sched.h>
#include <sys/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
static void want(long r, int errno_, const char *what) {
	int e = errno;
	if (r < 0 && e == errno_) printf("CONTAINED %s: %s, the sandbox's answer\n", what, strerror(e));
	else printf("ESCAPED %s: %s\n", what, r < 0 ? strerror(e) : "succeeded");
	fflush(stdout);
}
int main(void) {
	struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {1, allow};
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	printf("installing the allow-all filter: %s\n", r < 0 ? strerror(errno) : "done");
	want(unshare(CLONE_NEWUSER), EPERM, "unshare(CLONE_NEWUSER) after an allow-all filter");
	unsigned long ctx = 0;
	r = syscall(SYS_io_setup, 1, &ctx);
	if (r == 0) syscall(SYS_io_destroy, ctx);
	want(r, ENOSYS, "io_setup after an allow-all filter");
	return 0;
}
