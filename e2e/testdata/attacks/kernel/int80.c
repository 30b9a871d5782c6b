// @attack: the i386 ABI through int 0x80 (getpid, and socket via socketcall) and the x32 ABI (syscall numbers with bit 30 set)
// @language: c_gcc
// @lanes: host
// @contained: 3
// Containment: each call fails, or the kernel has no such ABI and the
// process that tries dies (SIGSEGV): each attempt runs in a child of its own.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
static long int80(long nr, long b, long c) { __asm__ volatile("int $0x80" : "+a"(nr) : "b"(b), "c"(c) : "memory"); return nr; }
static void attempt(int which, const char *what) {
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		long args[3] = {40 /* AF_VSOCK */, 1, 0}, r;
		if (which == 0) r = int80(20, 0, 0);                 // i386 getpid
		else if (which == 1) r = int80(102, 1, (long)args);  // i386 socketcall(SYS_SOCKET, {AF_VSOCK, SOCK_STREAM, 0})
		else r = syscall(0x40000000 | 39);                   // x32 getpid
		_exit(r < 0 ? 1 : 0);
	}
	int st; waitpid(p, &st, 0);
	if (WIFSIGNALED(st)) printf("CONTAINED %s: the process died of signal %d\n", what, WTERMSIG(st));
	else printf("%s %s: %s\n", WEXITSTATUS(st) ? "CONTAINED" : "ESCAPED", what, WEXITSTATUS(st) ? "failed" : "succeeded");
}
int main(void) {
	attempt(0, "int 0x80 getpid");
	attempt(1, "int 0x80 socketcall(socket, AF_VSOCK)");
	attempt(2, "x32 getpid");
	return 0;
}
