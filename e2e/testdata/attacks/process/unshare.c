// @attack: unshare every kind of namespace, one by one
// @language: c_gcc
// @lanes: host
// @contained: 8
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct { int flag; const char *name; } ns[] = {
		{CLONE_NEWUSER, "user"}, {CLONE_NEWNS, "mount"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWNET, "net"},
		{CLONE_NEWUTS, "uts"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWCGROUP, "cgroup"}, {0x80 /* CLONE_NEWTIME */, "time"},
	};
	for (int i = 0; i < 8; i++) { char w[64]; snprintf(w, sizeof w, "unshare %s", ns[i].name); check(unshare(ns[i].flag), w); }
	return 0;
}
