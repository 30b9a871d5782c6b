// @attack: one 8 GiB private mapping with MAP_NORESERVE, touched page by page
// @language: c_gcc
// @lanes: host
// @status: killed/9
// @timeout: 20
// @contained: 0
#define _GNU_SOURCE
#include <sys/mman.h>
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
	size_t n = 8UL << 30; char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) { perror("mmap"); return 1; }
	for (size_t i = 0; i < n; i += 4096) p[i] = 1;
	printf("ESCAPED touched 8 GiB\n");
	return 0;
}
