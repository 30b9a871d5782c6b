// @attack: netlink to host-wide state: ask the audit subsystem for its status
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <linux/netlink.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	// Send AUDIT_GET to the audit subsystem: only the host's init network
	// namespace with CAP_AUDIT_CONTROL may ask.
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
	long r = -1;
	if (s >= 0) {
		struct { struct nlmsghdr h; } m = {{sizeof m, AUDIT_GET, NLM_F_REQUEST | NLM_F_ACK, 1, 0}};
		struct sockaddr_nl a = {.nl_family = AF_NETLINK};
		r = sendto(s, &m, sizeof m, 0, (struct sockaddr *)&a, sizeof a);
		if (r >= 0) {
			char buf[4096]; struct timeval tv = {1, 0}; setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			long n = recv(s, buf, sizeof buf, 0);
			struct nlmsghdr *h = (void *)buf;
			r = n > 0 && h->nlmsg_type == AUDIT_GET ? 0 : -1;
			if (n > 0 && h->nlmsg_type == NLMSG_ERROR) errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
	check(r, "read the audit status");
	return 0;
}
