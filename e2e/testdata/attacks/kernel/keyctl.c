// @attack: the kernel keyrings: add a key, join a session keyring, read /proc/keys
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(syscall(SYS_add_key, "user", "atod", "x", 1, -3 /* KEY_SPEC_SESSION_KEYRING */), "add_key");
	check(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, "atod"), "keyctl join session keyring");
	char b[64]; int fd = open("/proc/keys", O_RDONLY); long n = fd < 0 ? -1 : read(fd, b, sizeof b);
	check(n > 0 ? 0 : -1, "read /proc/keys");
	return 0;
}
