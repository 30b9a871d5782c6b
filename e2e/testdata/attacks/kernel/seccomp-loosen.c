// @attack: loosen the sandbox's seccomp filter: install an allow-all filter on top, then retry a refused call; ask for mode strict; SECCOMP_RET_USER_NOTIF
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sched.h>
#include <sys/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {1, allow};
	syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	check(unshare(CLONE_NEWUSER), "unshare after an allow-all filter");
	char s[4096] = ""; FILE *f = fopen("/proc/self/status", "r"); fread(s, 1, sizeof s - 1, f);
	printf("%s the process is still filtered\n", strstr(s, "Seccomp:\t2") ? "CONTAINED" : "ESCAPED");
	return 0;
}
