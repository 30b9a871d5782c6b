// @attack: pin kernel memory in full pipe buffers (1 MiB each), at most twice the run's memory
// @language: c_gcc
// @lanes: host v2
// @hold: yes
// @timeout: 30
// @contained: 1
// Containment: pipe buffers are charged to the run's memory (or the
// per-user pipe pages cap them): what it pins stays below its memory limit.
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
int main(void) {
	long limit = @@MEMORY_BYTES@@, cap = 2 * limit, pinned = 0; static char buf[65536];
	while (pinned < cap) {
		int p[2]; if (pipe2(p, O_NONBLOCK) < 0) break;
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		long w; int got = 0;
		while ((w = write(p[1], buf, sizeof buf)) > 0) { pinned += w; got = 1; }
		if (!got) break;
	}
	printf("%s pinned %ld MiB in pipes; the run's memory is %ld MiB\n", pinned <= limit ? "CONTAINED" : "ESCAPED", pinned >> 20, limit >> 20);
	hold();
}
