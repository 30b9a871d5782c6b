// @attack: memfd_create and execveat a copy of a program from memory: it must stay under the filter and no_new_privs
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/sendfile.h>
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
	int m = memfd_create("x", 0), f = open("/bin/grep", O_RDONLY);
	while (sendfile(m, f, 0, 1 << 20) > 0);
	char *argv[] = {"grep", "-cE", "^(NoNewPrivs:.1|Seccomp:.2)$", "/proc/self/status", 0}, *envp[] = {0};
	int p[2]; pipe(p);
	if (fork() == 0) { dup2(p[1], 1); syscall(SYS_execveat, m, "", argv, envp, 0x1000 /* AT_EMPTY_PATH */); _exit(9); }
	close(p[1]); char b[16] = ""; read(p[0], b, sizeof b - 1);
	printf("%s the program run from memory is filtered (%s matched)\n", atoi(b) == 2 ? "CONTAINED" : "ESCAPED", strtok(b, "\n"));
	return 0;
}
