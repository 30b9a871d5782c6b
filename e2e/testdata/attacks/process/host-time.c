// @attack: set the host's clock: adjtimex and clock_adjtime writing back what they read (no change if they escape)
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sys/timex.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct timex t = {0};
	adjtimex(&t);
	t.modes = ADJ_STATUS;
	check(adjtimex(&t), "adjtimex ADJ_STATUS unchanged");
	t.modes = ADJ_STATUS;
	check(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &t), "clock_adjtime ADJ_STATUS unchanged");
	return 0;
}
