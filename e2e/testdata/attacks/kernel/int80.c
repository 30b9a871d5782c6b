// @attack: the i386 ABI through int 0x80 (getpid, unshare(CLONE_NEWUSER)) and the x32 ABI (getpid with bit 30 set): foreign ABIs past the native filter
// @language: c_gcc
// @lanes: host
// @contained: 3
// Containment: the sandbox's filter passes only the native ABI, so each
// call is refused: -ENOSYS, or the filter kills the caller (SIGSYS), or the
// kernel has no such ABI and the caller dies of SIGSEGV (ia32 emulation off,
// as on this host). Each attempt runs in a child of its own, which reports
// what the call returned. A pid back from getpid, or 0 from unshare, means a
// foreign ABI reached the kernel past the filter. The calls take no
// pointers, so nothing but the filter or the kernel's ABI support can make
// them fail. On a host without ia32 emulation the int 0x80 attempts prove
// only that the kernel refuses the ABI, not that the filter would; x32 is
// off in most kernels (then -ENOSYS from the kernel, or SIGSYS from the
// filter, which judges the architecture before the number).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
static long int80(long nr, long b) { __asm__ volatile("int $0x80" : "+a"(nr) : "b"(b) : "memory"); return nr; }
static void attempt(int which, const char *what) {
	int p2c[2]; pipe(p2c);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		long r;
		if (which == 0) r = int80(20, 0);                      // i386 getpid
		else if (which == 1) r = int80(310, 0x10000000);       // i386 unshare(CLONE_NEWUSER)
		else { r = syscall(0x40000000 | 39); if (r < 0) r = -errno; } // x32 getpid
		write(p2c[1], &r, sizeof r);
		_exit(0);
	}
	close(p2c[1]);
	long r; int got = read(p2c[0], &r, sizeof r) == sizeof r;
	close(p2c[0]);
	int st; waitpid(p, &st, 0);
	if (!got && WIFSIGNALED(st))
		printf("CONTAINED %s: the caller died of %s\n", what, WTERMSIG(st) == SIGSYS ? "SIGSYS (the filter)" : WTERMSIG(st) == SIGSEGV ? "SIGSEGV (no such ABI)" : strsignal(WTERMSIG(st)));
	else if (!got)
		printf("ESCAPED %s: the caller ended with status %d and no answer\n", what, st);
	else if (r >= 0)
		printf("ESCAPED %s: returned %ld%s\n", what, r, which != 1 && r == p ? ", the caller's pid" : "");
	else
		printf("CONTAINED %s: %s\n", what, strerror(-r));
}
int main(void) {
	attempt(0, "int 0x80 getpid");
	attempt(1, "int 0x80 unshare(CLONE_NEWUSER)");
	attempt(2, "x32 getpid");
	return 0;
}
