// @attack: the cgroup v1 release_agent escape (CVE-2022-0492): a new user namespace, then mount a cgroup v1 hierarchy
// @language: c_gcc
// @lanes: host
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	check(unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP), "unshare user, mount and cgroup namespaces");
	mkdir("/tmp/cg", 0755);
	check(mount("cgroup", "/tmp/cg", "cgroup", 0, "rdma"), "mount a cgroup v1 rdma hierarchy");
	check(mount("cgroup2", "/tmp/cg", "cgroup2", 0, 0), "mount cgroup2");
	return 0;
}
