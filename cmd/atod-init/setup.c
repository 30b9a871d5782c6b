/*
 * The start and setup of a sandbox. The daemon starts `atod-init setup`
 * (run_setup), which clones PID 1 of the sandbox's new user, mount, pid,
 * network, ipc and uts namespaces, writes their id maps and ends. That PID 1
 * (setup: root of its user namespace, with every capability in it and none
 * outside), once the daemon has put it in the run's cgroups and set its
 * limits, reads the daemon's plan (internal/initproto.Plan: the mounts, the
 * new root, ids), carries it out step by step, drops every privilege, loads
 * the seccomp filter and execs init (this binary again, as the sandbox's
 * /ATO/yargs), which waits for the run's job.
 *
 * Why not libcontainer's init, which did this until issue 13: a sandbox start
 * paid for a Go runtime and libcontainer's general machinery (its JSON
 * configuration, a mount API that re-checks every path through /proc, a
 * seccomp filter compiled anew each time), some 70 ms of CPU per sandbox on
 * the machine it was measured on, where a bubblewrap spawn costs 30. The
 * plan is the policy and is the daemon's, in Go, unit-tested; this file only
 * performs it, and fails closed: the first step that fails ends the setup,
 * with what failed and why on the status pipe, and nothing of the run starts.
 *
 * The root filesystem is trusted: an image atod built, or an overlay whose
 * upper layer is empty, and nothing of the run has run in it yet. Paths in
 * it are still resolved beneath the new root (openat2 RESOLVE_IN_ROOT), so
 * that a symbolic link in an image can never make a mount land outside it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atod-init.h"

/* initproto's SetupFD, SeccompFD, ExecFD, MaxPlanSize (StatusFD:
 * atod-init.h). */
enum { SETUP_FD = 5, SECCOMP_FD = 7, EXEC_FD = 8, MAX_PLAN = 1 << 16 };

/* The most instructions a classic BPF program may have (BPF_MAXINSNS). */
enum { MAX_BPF = 4096 };

/* die writes "setting up the sandbox: ..." to the status pipe (the daemon
 * reads it) and ends the setup. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *format, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "setting up the sandbox: ");
	va_list ap;
	va_start(ap, format);
	vsnprintf(line + n, sizeof line - n, format, ap);
	va_end(ap);
	if (write_all(STATUS_FD, line, strlen(line)) < 0)
		fprintf(stderr, "atod-init: %s\n", line);
	_exit(1);
}

/* root is the new root: a descriptor of it, and whether the plan has
 * pivoted into it (then it is "/"). */
static int root_fd = -1;

/* resolve opens path beneath the new root with flags (O_PATH at least),
 * following links only within it. It returns -1 with errno set. */
static int resolve(const char *path, int flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	return syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

/* fd_path is the /proc path of descriptor fd, for calls that take a path. */
static const char *fd_path(int fd)
{
	static char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return path;
}

/* copy_path copies path into parent, a PATH_MAX buffer on the caller's
 * stack: strdup's malloc in musl maps and unmaps a page for so small a
 * setup, and each munmap is a TLB shootdown of every core. */
static char *copy_path(char parent[PATH_MAX], const char *path)
{
	size_t n = strlen(path);
	if (n >= PATH_MAX)
		die("%.64s...: a path longer than %d bytes", path, PATH_MAX - 1);
	memcpy(parent, path, n + 1);
	return parent;
}

/* make_target makes the mount point path beneath the new root, a directory
 * or an empty file, unless something is there already. Its parent must
 * exist. */
static void make_target(const char *path, int directory)
{
	int fd = resolve(path, O_PATH);
	if (fd >= 0) {
		close(fd);
		return;
	}
	if (errno != ENOENT)
		die("finding %s: %s", path, strerror(errno));
	char buf[PATH_MAX], *parent = copy_path(buf, path), *slash = strrchr(parent, '/');
	if (!slash || !slash[1])
		die("making %s: not a path with a last element", path);
	const char *name = path + (slash - parent) + 1;
	if (slash == parent)
		slash[1] = 0;
	else
		*slash = 0;
	int dir = resolve(parent, O_PATH | O_DIRECTORY);
	if (dir < 0)
		die("finding %s to make %s: %s", parent, path, strerror(errno));
	if (directory) {
		if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
			die("making directory %s: %s", path, strerror(errno));
	} else {
		int f = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f < 0 && errno != EEXIST)
			die("making file %s: %s", path, strerror(errno));
		if (f >= 0)
			close(f);
	}
	close(dir);
}

/* locked_flags are the flags of the mount at fd that a remount must keep:
 * a mount that came from a more privileged namespace cannot lose them
 * (mount_namespaces(7): locked flags), and keeping them is what is meant. */
static unsigned long locked_flags(int fd, const char *path)
{
	struct statvfs st;
	if (fstatvfs(fd, &st) < 0)
		die("reading the flags of %s: %s", path, strerror(errno));
	static const struct {
		unsigned long st, ms;
	} kept[] = {
		{ST_RDONLY, MS_RDONLY},   {ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},
		{ST_NOEXEC, MS_NOEXEC},   {ST_NOATIME, MS_NOATIME},       {ST_NODIRATIME, MS_NODIRATIME},
		{ST_RELATIME, MS_RELATIME},
	};
	unsigned long flags = 0;
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		if (st.f_flag & kept[i].st)
			flags |= kept[i].ms;
	return flags;
}

/* remount gives the bind mount at path the flags, besides those it keeps. */
static void remount(const char *path, unsigned long flags)
{
	int fd = resolve(path, O_PATH);
	if (fd < 0)
		die("finding %s: %s", path, strerror(errno));
	flags |= locked_flags(fd, path);
	if (mount(NULL, fd_path(fd), NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
		die("remounting %s: %s", path, strerror(errno));
	close(fd);
}

/* number is s, a decimal number, or the setup's end. */
static unsigned long number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		die("%s: not a number: %.40s", what, s);
	return n;
}

static void op_root(char **a)
{
	/* Nothing done here reaches the daemon's namespace, and its later
	 * mounts and unmounts do not reach this one. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making the mounts private: %s", strerror(errno));
	/* pivot_root needs the new root to be a mount point. */
	if (mount(a[0], a[0], NULL, MS_BIND | MS_REC, NULL) < 0)
		die("binding the root %s: %s", a[0], strerror(errno));
	root_fd = open(a[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		die("opening the root %s: %s", a[0], strerror(errno));
}

static void op_mount(char **a)
{
	const char *target = a[4];
	make_target(target, 1);
	int fd = resolve(target, O_PATH | O_DIRECTORY);
	if (fd < 0)
		die("finding %s: %s", target, strerror(errno));
	if (mount(a[0], fd_path(fd), a[1], number(a[2], "mount flags"), a[3]) < 0)
		die("mounting %s on %s: %s", a[1], target, strerror(errno));
	close(fd);
}

static void op_bind(char **a)
{
	struct stat st;
	if (stat(a[0], &st) < 0)
		die("finding %s: %s", a[0], strerror(errno));
	make_target(a[1], S_ISDIR(st.st_mode));
	int fd = resolve(a[1], O_PATH);
	if (fd < 0)
		die("finding %s: %s", a[1], strerror(errno));
	if (mount(a[0], fd_path(fd), NULL, MS_BIND | MS_REC, NULL) < 0)
		die("binding %s on %s: %s", a[0], a[1], strerror(errno));
	close(fd);
	unsigned long flags = number(a[2], "bind flags");
	if (flags)
		remount(a[1], flags);
}

static void op_symlink(char **a)
{
	char buf[PATH_MAX], *parent = copy_path(buf, a[1]), *slash = strrchr(parent, '/');
	if (!slash || !slash[1])
		die("linking %s: not a path with a last element", a[1]);
	*slash = 0;
	int dir = resolve(*parent ? parent : "/", O_PATH | O_DIRECTORY);
	if (dir < 0 || symlinkat(a[0], dir, slash + 1) < 0)
		die("linking %s to %s: %s", a[1], a[0], strerror(errno));
	close(dir);
}

static void op_pivot(char **a)
{
	(void)a;
	/* pivot_root(".", "."): the old root is stacked under the new one
	 * and detached at once, with every mount of the daemon's namespace. */
	if (fchdir(root_fd) < 0)
		die("entering the new root: %s", strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		die("detaching the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		die("entering /: %s", strerror(errno));
	close(root_fd);
	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		die("opening /: %s", strerror(errno));
}

static void op_sysctl(char **a)
{
	char path[256] = "/proc/sys/";
	if (strlen(a[0]) > sizeof path - sizeof "/proc/sys/" || strstr(a[0], ".."))
		die("sysctl %.40s: not a sysctl name", a[0]);
	strcat(path, a[0]);
	for (char *c = path + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	int fd = resolve(path, O_WRONLY | O_NOFOLLOW);
	if (fd < 0 || write_all(fd, a[1], strlen(a[1])) < 0)
		die("setting %s: %s", a[0], strerror(errno));
	close(fd);
}

/* resolve_if_there is resolve(path, O_PATH), or -1 when nothing is
 * there: the paths the field's configuration masks or makes read-only
 * differ from kernel to kernel. */
static int resolve_if_there(const char *path)
{
	int fd = resolve(path, O_PATH);
	if (fd < 0 && errno != ENOENT)
		die("finding %s: %s", path, strerror(errno));
	return fd;
}

static void op_readonly(char **a)
{
	int fd = resolve_if_there(a[0]);
	if (fd < 0)
		return;
	if (mount(fd_path(fd), fd_path(fd), NULL, MS_BIND | MS_REC, NULL) < 0)
		die("binding %s on itself: %s", a[0], strerror(errno));
	close(fd);
	remount(a[0], MS_RDONLY);
}

static void op_mask(char **a)
{
	int fd = resolve_if_there(a[0]);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("finding %s: %s", a[0], strerror(errno));
	int err = S_ISDIR(st.st_mode)
			  ? mount("tmpfs", fd_path(fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,nr_inodes=1")
			  : mount("/dev/null", fd_path(fd), NULL, MS_BIND, NULL);
	if (err < 0)
		die("masking %s: %s", a[0], strerror(errno));
	close(fd);
}

static void op_remount_ro(char **a) { remount(a[0], MS_RDONLY); }

static void op_hostname(char **a)
{
	if (sethostname(a[0], strlen(a[0])) < 0)
		die("setting the host name: %s", strerror(errno));
}

static void op_loopback(char **a)
{
	(void)a;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("finding the loopback interface: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("bringing the loopback interface up: %s", strerror(errno));
	close(s);
}

static void op_chdir(char **a)
{
	if (chdir(a[0]) < 0)
		die("entering %s: %s", a[0], strerror(errno));
}

/* op_user drops every capability, the ones a later exec could give back
 * included, and takes the run's ids: nothing of the run is privileged even
 * in its own user namespace, root (uid 0 of a rootless run) included. */
static void op_user(char **a)
{
	/* (uid_t)-1 would leave an id as it is: root. */
	unsigned long uid = number(a[0], "uid"), gid = number(a[1], "gid");
	if (uid >= (uid_t)-1)
		die("uid %s: out of range", a[0]);
	if (gid >= (gid_t)-1)
		die("gid %s: out of range", a[1]);
	if (number(a[2], "setgroups") && setgroups(0, NULL) < 0)
		die("emptying the supplementary groups: %s", strerror(errno));
	/* The bounding set first, while CAP_SETPCAP is still held. */
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			die("dropping capability %d: %s", cap, strerror(errno));
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("clearing the ambient capabilities: %s", strerror(errno));
	/* uid 0 gains no capability on exec, and never can again. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) < 0)
		die("setting the secure bits: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		die("taking gid %lu: %s", gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		die("taking uid %lu: %s", uid, strerror(errno));
	/* A uid other than 0 has lost them already; uid 0 keeps them until
	 * this. */
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	if (syscall(SYS_capset, &header, data) < 0)
		die("dropping the capabilities: %s", strerror(errno));
}

/* load_seccomp loads the run's filter from SECCOMP_FD. */
static void load_seccomp(void)
{
	static struct sock_filter insns[MAX_BPF + 1];
	ssize_t n = pread(SECCOMP_FD, insns, sizeof insns, 0);
	if (n < 0)
		die("reading the seccomp filter: %s", strerror(errno));
	if (n == 0 || n % sizeof insns[0] || n > MAX_BPF * (ssize_t)sizeof insns[0])
		die("reading the seccomp filter: %zd bytes is no BPF program", n);
	struct sock_fprog prog = {.len = n / sizeof insns[0], .filter = insns};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die("loading the seccomp filter: %s", strerror(errno));
}

static void op_exec(char **a)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("setting no_new_privs: %s", strerror(errno));
	/* init's descriptors (stdio, the report and job pipes) and the status
	 * pipe, on which init says it is ready; nothing else of the daemon's. */
	if (syscall(SYS_close_range, SECCOMP_FD + 1, ~0U, 0) < 0)
		die("closing descriptors: %s", strerror(errno));
	/* Last: the filter allows what the run may do, and nothing more. */
	load_seccomp();
	close(SECCOMP_FD);
	char *argv[] = {a[0], NULL}, *envp[] = {NULL};
	execve(a[0], argv, envp);
	die("executing %s: %s", a[0], strerror(errno));
}

static const struct {
	const char *name;
	int nargs;
	void (*run)(char **args);
} ops[] = {
	{"root", 1, op_root},
	{"mount", 5, op_mount},
	{"bind", 3, op_bind},
	{"symlink", 2, op_symlink},
	{"pivot", 0, op_pivot},
	{"sysctl", 2, op_sysctl},
	{"readonly", 1, op_readonly},
	{"mask", 1, op_mask},
	{"remount-ro", 1, op_remount_ro},
	{"hostname", 1, op_hostname},
	{"loopback", 0, op_loopback},
	{"chdir", 1, op_chdir},
	{"user", 3, op_user},
	{"exec", 1, op_exec},
};

/* write_map writes an id map (or "deny" to setgroups) of process pid. */
static void write_map(pid_t pid, const char *file, const char *map)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, map, strlen(map)) < 0) {
		int err = errno;
		kill(pid, SIGKILL);
		die("writing %s of the sandbox: %s", file, strerror(err));
	}
	close(fd);
}

/* setup is the sandbox's side: PID 1 of its new namespaces. */
static void setup(void);

int run_setup(const char *uid_map, const char *gid_map, const char *setgroups)
{
	prctl(PR_SET_NAME, "atod-start", 0, 0, 0); /* not "8", from /proc/self/fd/8 */
	if (fcntl(STATUS_FD, F_GETFD) < 0) {
		fprintf(stderr, "atod-init: setup without a status pipe on fd %d\n", STATUS_FD);
		return 1;
	}
	/* Here, the daemon's child (started without namespaces, which keeps
	 * the daemon's own start of it cheap: a process start that makes a
	 * user namespace cannot share the daemon's memory, and copying its
	 * page tables made every write of the daemon's fault afterwards),
	 * the sandbox is cloned as the daemon's child too (CLONE_PARENT), as
	 * runc's nsexec does; this process writes its id maps, which takes
	 * the daemon's privilege, and ends. */
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		die("making a pipe: %s", strerror(errno));
	pid_t pid = syscall(SYS_clone, CLONE_PARENT | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
					       CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
			    NULL, NULL, NULL, NULL);
	if (pid < 0)
		die("cloning the sandbox's namespaces: %s", strerror(errno));
	if (pid == 0) {
		/* Until the maps are written this process's ids mean
		 * nothing in its namespace. */
		close(sync[1]);
		char go;
		if (read(sync[0], &go, 1) != 1)
			_exit(1); /* the first stage failed, and said why */
		close(sync[0]);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			die("becoming root of the sandbox's user namespace: %s", strerror(errno));
		setup();
		_exit(1); /* not reached: setup execs init or dies */
	}
	close(sync[0]);
	/* The daemon's first line: whose sandbox this is. */
	char line[32];
	snprintf(line, sizeof line, "%d\n", (int)pid);
	if (write_all(STATUS_FD, line, strlen(line)) < 0) {
		kill(pid, SIGKILL);
		return 1;
	}
	write_map(pid, "setgroups", setgroups);
	write_map(pid, "uid_map", uid_map);
	write_map(pid, "gid_map", gid_map);
	if (write(sync[1], "", 1) != 1) {
		int err = errno;
		kill(pid, SIGKILL);
		die("starting the sandbox: %s", strerror(err));
	}
	return 0;
}

static void setup(void)
{
	prctl(PR_SET_NAME, "atod-setup", 0, 0, 0);
	/* What the setup makes and the run's own, whatever the daemon's
	 * umask is. */
	umask(022);
	/* The plan comes once the daemon has put this process in the run's
	 * cgroups: its cgroup namespace is rooted there. */
	struct buffer plan;
	if (read_all(SETUP_FD, MAX_PLAN, &plan) < 0)
		die("reading the plan: %s", strerror(errno));
	close(SETUP_FD);
	if (plan.len == 0)
		_exit(0); /* discarded before it was set up */
	if (plan.len > MAX_PLAN || plan.data[plan.len - 1] != 0)
		die("reading the plan: more than %d bytes, or not NUL-terminated", MAX_PLAN);
	if (unshare(CLONE_NEWCGROUP) < 0)
		die("making the cgroup namespace: %s", strerror(errno));

	char *args[8];
	for (char *e = plan.data; e < plan.data + plan.len;) {
		char *name = e;
		e += strlen(e) + 1;
		size_t i = 0;
		while (i < sizeof ops / sizeof ops[0] && strcmp(ops[i].name, name) != 0)
			i++;
		if (i == sizeof ops / sizeof ops[0])
			die("unknown step %.40s", name);
		if (strcmp(name, "root") != 0 && root_fd < 0)
			die("step %s before the root", name);
		for (int k = 0; k < ops[i].nargs; k++) {
			if (e >= plan.data + plan.len)
				die("step %s: %d arguments, not %d", name, k, ops[i].nargs);
			args[k] = e;
			e += strlen(e) + 1;
		}
		ops[i].run(args);
	}
	die("the plan ends without exec");
}
