// @attack: swapon/swapoff/acct on nonexistent paths: EPERM when contained, ENOENT if the privilege check passed
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <sys/swap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void perm(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 && e != ENOENT && e != EINVAL ? "CONTAINED" : "ESCAPED", what, strerror(e)); }
int main(void) {
	perm(swapon("/nonexistent-swap", 0), "swapon");
	perm(swapoff("/nonexistent-swap"), "swapoff");
	perm(acct("/nonexistent-acct"), "acct");
	return 0;
}
