// @attack: socket families seccomp refuses, with the upper 32 bits of the family set (issue 10, finding 1: socket(AF_VSOCK|1<<32) got a socket)
// @language: c_gcc
// @lanes: host v2
// @contained: 6
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
	check(syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0), "socket(AF_VSOCK)");
	check(syscall(SYS_socket, AF_VSOCK | (1L << 32), SOCK_STREAM, 0), "socket(AF_VSOCK|1<<32)");
	check(syscall(SYS_socket, AF_VSOCK | (0xffffffffL << 32), SOCK_DGRAM, 0), "socket(AF_VSOCK|0xffffffff<<32)");
	check(syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0), "socket(AF_ALG)");
	check(syscall(SYS_socket, AF_ALG | (1L << 32), SOCK_SEQPACKET, 0), "socket(AF_ALG|1<<32)");
	int sv[2];
	check(syscall(SYS_socketpair, AF_VSOCK | (1L << 32), SOCK_STREAM, 0, sv), "socketpair(AF_VSOCK|1<<32)");
	return 0;
}
