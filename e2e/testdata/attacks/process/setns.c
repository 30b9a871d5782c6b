// @attack: join namespaces with setns (every kind, by the run's own /proc/self/ns files), and reach the host canary's
// @language: c_gcc
// @lanes: host
// @contained: 8
// Containment: the sandbox's filter refuses setns outright with EPERM; any
// other answer means the call reached the kernel, whose own checks are then
// all that is left (joining one's own user namespace is EINVAL there; its
// own mount or network namespace succeeds with CAP_SYS_ADMIN in the run's
// user namespace). The run's own namespaces are the only ones it can name:
// the host canary's /proc files are not in its pid namespace at all.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
int main(void) {
	const char *ns[] = {"user", "mnt", "net", "pid", "ipc", "uts", "cgroup"};
	for (int i = 0; i < 7; i++) {
		char p[64]; snprintf(p, sizeof p, "/proc/self/ns/%s", ns[i]);
		int fd = open(p, O_RDONLY);
		if (fd < 0) { printf("ESCAPED open %s: %s (nothing tested)\n", p, strerror(errno)); continue; }
		long r = setns(fd, 0); int e = errno;
		if (r < 0 && e == EPERM) printf("CONTAINED setns to the run's %s namespace: %s, the filter's answer\n", ns[i], strerror(e));
		else printf("ESCAPED setns to the run's %s namespace: %s\n", ns[i], r < 0 ? strerror(e) : "succeeded");
		close(fd);
	}
	int fd = open("/proc/@@CANARY_PID@@/ns/mnt", O_RDONLY);
	printf("%s open the canary's mount namespace: %s\n", fd < 0 ? "CONTAINED" : "ESCAPED", fd < 0 ? strerror(errno) : "opened");
	return 0;
}
