// @attack: the host's file table (issue 10, finding 5): every task the run may have, each holding every file it may; stops at its share, never exhausts the host
// @language: c_gcc
// @lanes: host rootless
// @hold: yes
// @timeout: 30
// @contained: 1
// Containment: all of a run's tasks together hold at most its share of
// fs.file-max, 1/(2*slots) (the judge also checks the host's file-nr while
// this holds). It stops as soon as it passes the share, so an escape costs
// the host no more than one run's share.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
static long allocated(void) { long n = 0; FILE *f = fopen("/proc/sys/fs/file-nr", "r"); if (f) { fscanf(f, "%ld", &n); fclose(f); } return n; }
int main(void) {
	long share = @@FILE_SHARE@@, base = allocated(), total = 0; int pfd[2]; pipe(pfd);
	int kids = 0;
	while (total <= share) {
		pid_t p = fork();
		if (p < 0) break;
		if (p == 0) {
			// No task opens more than the rest of the share and one.
			int n = 0; while (total + n <= share && open("/dev/null", O_RDONLY) >= 0) n++;
			write(pfd[1], &n, sizeof n);
			for (;;) pause();
		}
		int n; if (read(pfd[0], &n, sizeof n) != sizeof n) break;
		total += n; kids++;
	}
	printf("%s %d tasks held %ld files (file-nr +%ld); the run's share of fs.file-max is %ld\n",
		total <= share ? "CONTAINED" : "ESCAPED", kids, total, allocated() - base, share);
	hold();
}
