// @attack: raw and packet sockets: sniff or forge traffic
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(socket(AF_INET, SOCK_RAW, IPPROTO_TCP), "AF_INET SOCK_RAW");
	check(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), "AF_PACKET SOCK_RAW");
	check(socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), "AF_INET6 SOCK_RAW");
	return 0;
}
