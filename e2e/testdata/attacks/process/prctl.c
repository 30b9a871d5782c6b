// @attack: prctl: unset no_new_privs, replace the exe link and move the heap (PR_SET_MM)
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0);
	long nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	printf("%s no_new_privs is %ld\n", nnp == 1 ? "CONTAINED" : "ESCAPED", nnp);
	int fd = open("/bin/true", O_RDONLY);
	check(prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, fd, 0, 0), "PR_SET_MM_EXE_FILE");
	check(prctl(PR_SET_MM, PR_SET_MM_START_BRK, 0x10000, 0, 0), "PR_SET_MM_START_BRK");
	return 0;
}
