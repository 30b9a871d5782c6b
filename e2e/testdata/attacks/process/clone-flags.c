// @attack: clone(2) with namespace flags, alone and hidden among other bits (the upper 32 bits set too)
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void try(unsigned long flags, const char *what) {
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) _exit(0);
	if (pid > 0) waitpid(pid, 0, 0);
	check(pid, what);
}
int main(void) {
	try(CLONE_NEWUSER, "clone CLONE_NEWUSER");
	try(CLONE_NEWNET | CLONE_NEWNS, "clone CLONE_NEWNET|CLONE_NEWNS");
	try(CLONE_NEWUSER | (1UL << 40), "clone CLONE_NEWUSER with bit 40 set");
	return 0;
}
