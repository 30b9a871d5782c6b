// @attack: 100000 one-byte writes to stdout and stderr, each its own syscall (a message flood if every read is sent)
// @language: c_gcc
// @lanes: host
// @status: any
// @contained: 0
#define _GNU_SOURCE
#include <unistd.h>
int main(void) {
	for (int i = 0; i < 100000; i++) { write(1, "x", 1); write(2, "y", 1); }
	return 0;
}
