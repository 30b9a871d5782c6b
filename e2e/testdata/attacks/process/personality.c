// @attack: personality flags (no ASLR, READ_IMPLIES_EXEC, 32-bit) and then exec: the filter must still hold
// @language: c_gcc
// @lanes: host
// @contained: 2
// Containment: the filter refuses personas other than Linux and UNAME26
// with ENOSYS; then, after an exec (of the probe itself), unshare(CLONE_NEWUSER)
// still fails with EPERM, the filter's answer. The kernel itself allows
// both, so only those errnos count.
#define _GNU_SOURCE
#include <sched.h>
#include <sys/personality.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc > 1) { // after the exec
		long r = unshare(CLONE_NEWUSER); int e = errno;
		if (r < 0 && e == EPERM) printf("CONTAINED unshare(CLONE_NEWUSER) after personality and exec: %s, the filter's answer\n", strerror(e));
		else printf("ESCAPED unshare(CLONE_NEWUSER) after personality and exec: %s\n", r < 0 ? strerror(e) : "succeeded");
		return 0;
	}
	long r = personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC | PER_LINUX32); int e = errno;
	if (r < 0 && e == ENOSYS) printf("CONTAINED personality(ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC|PER_LINUX32): %s, the filter's answer\n", strerror(e));
	else printf("ESCAPED personality(ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC|PER_LINUX32): %s\n", r < 0 ? strerror(e) : "set");
	fflush(stdout);
	execl("/proc/self/exe", "personality", "after-exec", (char *)0);
	printf("ESCAPED exec after personality: %s (nothing tested)\n", strerror(errno));
	return 0;
}
