// @attack: every address family besides unix, inet, inet6 and netlink (the families a run needs); the kernel has no modules to load here
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};
	char opened[1024] = "";
	for (int f = 0; f < 46; f++) {
		if (f == AF_UNIX || f == AF_INET || f == AF_INET6 || f == AF_NETLINK) continue;
		for (int t = 0; t < 4; t++) {
			int s = socket(f, types[t], 0);
			if (s >= 0) { char b[32]; snprintf(b, sizeof b, " %d/%d", f, types[t]); strcat(opened, b); close(s); break; }
		}
	}
	if (*opened) printf("ESCAPED sockets of families/types%s\n", opened); else printf("CONTAINED no other family\n");
	return 0;
}
