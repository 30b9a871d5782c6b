// @attack: System V IPC that outlives its processes: shared memory segments, message queues and semaphores left at exit
// @language: c_gcc
// @lanes: host
// @contained: 1
// Containment: they live in the run's IPC namespace and go with it (the
// judge compares the host's /proc/sysvipc after the run).
#define _GNU_SOURCE
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/sem.h>
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
	int n = 0;
	for (int i = 0; i < 8; i++) {
		int id = shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT | 0600);
		if (id < 0) break;
		char *p = shmat(id, 0, 0); memset(p, 1, 4 << 20); shmdt(p); n++;
	}
	for (int i = 0; i < 16; i++) msgget(IPC_PRIVATE, IPC_CREAT | 0600), semget(IPC_PRIVATE, 8, IPC_CREAT | 0600);
	printf("CONTAINED left %d shared memory segments of 4 MiB, queues and semaphores\n", n);
	return 0;
}
