// @attack: clone3 with CLONE_NEWUSER (its flags are in memory, where seccomp cannot look)
// @language: c_gcc
// @lanes: host
// @contained: 1
// Containment: no child in a new user namespace; ENOSYS (so the C library
// falls back to clone) or another error.
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } a = {0};
	a.flags = CLONE_NEWUSER | CLONE_NEWNET; a.exit_signal = SIGCHLD;
	long pid = syscall(SYS_clone3, &a, sizeof a);
	if (pid == 0) _exit(0);
	if (pid > 0) waitpid(pid, 0, 0);
	check(pid, "clone3 CLONE_NEWUSER|CLONE_NEWNET");
	return 0;
}
