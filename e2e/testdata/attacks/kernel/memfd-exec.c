// @attack: memfd_create and execveat a copy of the probe from memory, which then tries calls the sandbox refuses
// @language: c_gcc
// @lanes: host
// @contained: 1
// Containment: a program run from memory is still under the sandbox's
// filter: unshare(CLONE_NEWUSER) fails with EPERM there, which it would not
// without the filter. If memory cannot be run from at all, that contains
// it too.
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
	if (argc > 1) { // the copy run from memory
		long r = unshare(CLONE_NEWUSER); int e = errno;
		if (r < 0 && e == EPERM) printf("CONTAINED the program run from memory is filtered: unshare(CLONE_NEWUSER) %s\n", strerror(e));
		else printf("ESCAPED the program run from memory: unshare(CLONE_NEWUSER) %s\n", r < 0 ? strerror(e) : "succeeded");
		return 0;
	}
	int m = memfd_create("x", 0), f = open("/proc/self/exe", O_RDONLY);
	if (m < 0 || f < 0) { printf("CONTAINED memfd_create or opening itself: %s\n", strerror(errno)); return 0; }
	while (sendfile(m, f, 0, 1 << 20) > 0);
	char *args[] = {"copy", "from-memory", 0}, *envp[] = {0};
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		syscall(SYS_execveat, m, "", args, envp, 0x1000 /* AT_EMPTY_PATH */);
		printf("CONTAINED execveat of the memfd: %s\n", strerror(errno));
		_exit(0);
	}
	int st; waitpid(p, &st, 0);
	return 0;
}
