// @attack: gain capabilities: capset, the ambient set, and what the status file shows
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{~0u, ~0u, ~0u}, {~0u, ~0u, ~0u}};
	check(syscall(SYS_capset, &h, d), "capset all");
	check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0), "raise ambient CAP_SYS_ADMIN");
	char line[128]; int nonzero = 0; FILE *f = fopen("/proc/self/status", "r");
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Cap", 3) && !strstr(line, "0000000000000000")) { nonzero = 1; fputs(line, stdout); }
	printf("%s no capability in any set\n", nonzero ? "ESCAPED" : "CONTAINED");
	return 0;
}
