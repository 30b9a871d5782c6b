// @attack: the host's AIO pool (issue 10, finding 3: one run reserved all of fs.aio-max-nr): io_setup until it fails, stopping past the run's share
// @language: c_gcc
// @lanes: host
// @hold: yes
// @contained: 1
// Containment: io_setup is absent (ENOSYS) or what the run reserves stays
// within 1/(2*slots) of fs.aio-max-nr; the judge checks aio-nr and that
// the daemon's user can still io_setup while this holds.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
static long aio_nr(void) { long n = 0; FILE *f = fopen("/proc/sys/fs/aio-nr", "r"); if (f) { fscanf(f, "%ld", &n); fclose(f); } return n; }
int main(void) {
	long share = @@AIO_SHARE@@, base = aio_nr(); int n = 0; long r = 0;
	// Each context reserves at least its 256 events: counting them caps the
	// loop at the share and one context even when aio-nr cannot be read.
	while (aio_nr() - base <= share && n * 256L <= share) { unsigned long ctx = 0; if ((r = syscall(SYS_io_setup, 256, &ctx)) < 0) break; n++; }
	int e = errno;
	printf("%s %d AIO contexts reserved %ld events (%s); the run's share is %ld\n", aio_nr() - base <= share && n * 256L <= share ? "CONTAINED" : "ESCAPED", n, aio_nr() - base, r < 0 ? strerror(e) : "no error", share);
	hold();
}
