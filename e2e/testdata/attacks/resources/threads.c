// @attack: as many threads as pthread_create gives
// @language: c_gcc
// @lanes: host
// @options: -pthread
// @timeout: 20
// @contained: 1
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
static void *sleeper(void *a) { for (;;) pause(); return a; }
int main(void) {
	int n = 0, r = 0; pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at, 65536);
	for (; n < 5000; n++) { pthread_t t; if ((r = pthread_create(&t, &at, sleeper, 0))) break; }
	printf("%s pthread_create stopped after %d threads: %s\n", n < 256 ? "CONTAINED" : "ESCAPED", n, strerror(r));
	return 0;
}
