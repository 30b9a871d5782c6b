//go:generate go run gendoc.go ../../docs/seccomp.md

package seccompprofile

// Linux's address families and netlink protocols the socket rules name.
const (
	afUnix       = 1
	afInet       = 2
	afInet6      = 10
	afNetlink    = 16
	netlinkRoute = 0

	// IP protocols (socket's third argument) of AF_INET and AF_INET6.
	ipprotoDefault = 0
	ipprotoICMP    = 1
	ipprotoTCP     = 6
	ipprotoUDP     = 17
	ipprotoICMPv6  = 58

	// Families are refused by number up to here; higher numbers name no
	// family (AF_MAX is 46 in Linux 6.18) and get the default error.
	familiesNamed = 64
	// Netlink protocols are below MAX_LINKS (32).
	netlinkProtocols = 32
)

// namespaceFlags are clone's flags that make namespaces (CLONE_NEWNS,
// CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
// CLONE_NEWNET). CLONE_NEWTIME (0x80) is not one of them for clone(2): there
// that bit belongs to the exit signal, and only clone3 and unshare, both
// refused, can make a time namespace.
var namespaceFlags = []uint64{0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000}

func namespaceMask() uint64 {
	var m uint64
	for _, f := range namespaceFlags {
		m |= f
	}
	return m
}

// Groups is the whole policy, every architecture's rules, in the order of
// the documentation.
func Groups() []Group {
	return []Group{
		{
			Title: "Files and directories",
			Why:   "Programs read and write files. What they may reach is the mount namespace's business (a run's own root), not the filter's.",
			Rules: []Rule{allow(
				"faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "fchmod", "fchmodat", "fchmodat2",
				"fchown", "fchownat", "umask", "openat", "openat2", "close", "close_range", "dup", "dup3",
				"fcntl", "flock", "linkat", "symlinkat", "readlinkat", "renameat", "renameat2", "unlinkat",
				"mkdirat", "mknodat", "fstat", "newfstatat", "statx", "statfs", "fstatfs", "getdents64",
				"truncate", "ftruncate", "fallocate", "utimensat",
				"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
				"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
				"sync", "syncfs", "fsync", "fdatasync", "sync_file_range", "fadvise64", "readahead",
			)},
		},
		{
			Title:  "Files and directories, older calls",
			Why:    "amd64 keeps the calls that arm64's newer table replaced with their -at forms (openat for open); C libraries and static binaries still make them.",
			Arches: []string{"amd64"},
			Rules: []Rule{allow(
				"access", "chmod", "chown", "lchown", "creat", "open", "dup2", "link", "symlink", "readlink",
				"rename", "unlink", "mkdir", "rmdir", "mknod", "stat", "lstat", "getdents", "utime", "utimes", "futimesat",
			)},
		},
		{
			Title: "Reading, writing and pipes",
			Why:   "Input, output and moving data between descriptors. ioctl is whole: the run has no terminal and no device beyond null, zero, full, random, urandom and tty.",
			Rules: []Rule{allow(
				"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
				"lseek", "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "pipe2", "ioctl", "cachestat",
			)},
		},
		{
			Title: "Waiting for events",
			Why:   "Event loops of every runtime (epoll, poll, select, eventfd, signalfd, timerfd).",
			Rules: []Rule{allow(
				"pselect6", "ppoll", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "eventfd2",
				"signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
			)},
		},
		{
			Title:  "Waiting for events, older calls",
			Why:    "The amd64-only forms of the calls above.",
			Arches: []string{"amd64"},
			Rules: []Rule{allow(
				"pipe", "select", "poll", "epoll_create", "epoll_wait", "eventfd", "signalfd",
			)},
		},
		{
			Title: "Memory",
			Why:   "Allocation and mappings. All of it is charged to the run's memory cgroup; locked memory is bounded by RLIMIT_MEMLOCK.",
			Rules: []Rule{allow(
				"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
				"munlock", "mlockall", "munlockall", "membarrier", "memfd_create", "remap_file_pages",
				"pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack",
			)},
		},
		{
			Title: "Calls of Linux 6.10 to 6.13",
			Why: "Allowed for the same reasons as their groups above (sealing mappings; extended attributes relative to a directory). " +
				"A libseccomp older than these calls cannot name them, and they then fail with ENOSYS, which their users handle.",
			Since: "6.10",
			Rules: []Rule{allow("mseal", "getxattrat", "setxattrat", "listxattrat", "removexattrat")},
		},
		{
			Title: "Processes and threads",
			Why:   "Creating, running, waiting for and signalling processes and threads, inside the run's pid namespace and under its pids limit; scheduling within what an unprivileged process may choose.",
			Rules: []Rule{allow(
				"execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill",
				"getpid", "getppid", "gettid", "getpgid", "setpgid", "getsid", "setsid", "set_tid_address",
				"set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "futex_wait", "futex_wake",
				"futex_requeue", "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
				"sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr", "sched_setattr",
				"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "getpriority",
				"setpriority", "ioprio_get", "ioprio_set", "prctl", "getcpu", "pidfd_open", "pidfd_send_signal",
				"process_mrelease", "restart_syscall", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
				"landlock_restrict_self", "capget", "capset",
			)},
		},
		{
			Title:  "Processes and threads, amd64",
			Why:    "fork and vfork exist only in amd64's table (arm64 C libraries use clone); arch_prctl and the thread-area calls set the thread pointer.",
			Arches: []string{"amd64"},
			Rules:  []Rule{allow("fork", "vfork", "getpgrp", "arch_prctl", "set_thread_area", "get_thread_area")},
		},
		{
			Title: "clone without namespaces",
			Why:   "clone makes processes and threads; with a namespace flag it would make namespaces, whose setup is the sandbox's alone (a user namespace needs no privilege at all), so those fail with EPERM, as unshare does. The flags are checked in the low 32 bits, which is what clone reads.",
			Rules: cloneRules(),
		},
		{
			Title: "clone3",
			Why:   "clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes the C library fall back to clone.",
			Rules: []Rule{fail(ENOSYS, "clone3")},
		},
		{
			Title: "personality",
			Why:   "Querying the personality and the settings programs use (Linux, UNAME26 and their combinations, as Moby allows); others, such as turning address randomisation off, get ENOSYS.",
			Rules: []Rule{
				{Names: []string{"personality"}, Conds: []Cond{intIs(0, 0)}},
				{Names: []string{"personality"}, Conds: []Cond{intIs(0, 0x8)}},
				{Names: []string{"personality"}, Conds: []Cond{intIs(0, 0x20000)}},
				{Names: []string{"personality"}, Conds: []Cond{intIs(0, 0x20008)}},
				{Names: []string{"personality"}, Conds: []Cond{intIs(0, 0xffff_ffff)}},
			},
		},
		{
			Title: "Signals and timers",
			Why:   "Handlers, masks, queued signals (bounded per run by RLIMIT_SIGPENDING) and POSIX and interval timers.",
			Rules: []Rule{allow(
				"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
				"rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "getitimer", "setitimer",
				"timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
			)},
		},
		{
			Title:  "Signals, amd64",
			Why:    "The amd64-only forms.",
			Arches: []string{"amd64"},
			Rules:  []Rule{allow("pause", "alarm")},
		},
		{
			Title: "Identity, limits and the system's description",
			Why:   "Reading and (within the run's user namespace, without privileges) changing ids and limits; resource usage; uname and sysinfo.",
			Rules: []Rule{allow(
				"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
				"setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
				"getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname", "getrandom",
			)},
		},
		{
			Title: "Time",
			Why:   "Clocks and sleeping. adjtimex and clock_adjtime only read without CAP_SYS_TIME, which a run lacks.",
			Rules: []Rule{allow(
				"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "adjtimex", "clock_adjtime",
			)},
		},
		{
			Title:  "Time, amd64",
			Why:    "time(2) exists only in amd64's table.",
			Arches: []string{"amd64"},
			Rules:  []Rule{allow("time")},
		},
		{
			Title: "Inter-process communication",
			Why:   "System V IPC lives in the run's own IPC namespace; POSIX message queues too, and their bytes are bounded per run by RLIMIT_MSGQUEUE (a share of the daemon's user's budget).",
			Rules: []Rule{allow(
				"msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "shmget",
				"shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
				"mq_notify", "mq_getsetattr",
			)},
		},
		{
			Title: "Sockets",
			Why: "Unix sockets, IPv4 and IPv6 sockets of TCP, UDP and ICMP (ping), and netlink's route protocol for ip(8): all inside the run's network namespace, which has only loopback. Other IP protocols (SCTP, DCCP, UDP-Lite, MPTCP, ...) get ENOSYS: kernel surface no language needs. " +
				"Every other family fails with EAFNOSUPPORT, as on a kernel without it: vsock is not confined by the network namespace (it reaches the hypervisor), AF_ALG is the kernel's crypto API, AF_PACKET and the rest are kernel surface no program here needs. " +
				"Other netlink protocols (audit, uevents, ...) fail with EPROTONOSUPPORT.",
			Rules: append(socketRules(),
				allow("bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "sendto",
					"recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt")),
		},
		{
			Title: "Other processes",
			Why:   "Reading, writing or comparing another process's memory and descriptors; the pid namespace holds only the run, but these have a long history of kernel bugs and no place in a run. (So debuggers do not work in a run, and AddressSanitizer's leak checker, which uses ptrace, needs ASAN_OPTIONS=detect_leaks=0.)",
			Rules: []Rule{fail(EPERM, "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd")},
		},
		{
			Title: "Mounts, namespaces and the root",
			Why:   "The sandbox sets these up before the program starts; a run changes none of them.",
			Rules: []Rule{fail(EPERM,
				"mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig", "fsmount",
				"fspick", "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
				"fanotify_init", "quotactl", "quotactl_fd")},
		},
		{
			Title: "The kernel's own interfaces",
			Why:   "Keyrings, BPF, perf, userfaultfd, modules, kexec and the host's clock, swap, accounting and log: privileged, or kernel surface with a history of escalations.",
			Rules: []Rule{fail(EPERM,
				"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie",
				"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
				"swapoff", "acct", "settimeofday", "clock_settime", "syslog", "vhangup", "sethostname", "setdomainname")},
		},
		{
			Title:  "The kernel's own interfaces, amd64",
			Why:    "Port I/O, which needs CAP_SYS_RAWIO.",
			Arches: []string{"amd64"},
			Rules:  []Rule{fail(EPERM, "iopl", "ioperm")},
		},
		{
			Title: "Absent on purpose",
			Why: "These fail with ENOSYS, as on a kernel built without them, so that programs take their fallback. " +
				"Linux AIO reserves from one host-wide pool (fs.aio-max-nr) that nothing of a run bounds: one run took all of it (issue 10); glibc's POSIX AIO uses threads instead. " +
				"inotify instances are a per-user count charged to the daemon's user, which no limit of a run bounds: programs poll instead (tail -f does). " +
				"io_uring is kernel surface with a long history of escalations; libuv and others fall back to threads. " +
				"(Listed for the record: every call no rule names fails so.)",
			Rules: []Rule{fail(ENOSYS,
				"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
				"inotify_init1", "inotify_add_watch", "inotify_rm_watch",
				"io_uring_setup", "io_uring_enter", "io_uring_register")},
		},
		{
			Title:  "Absent on purpose, amd64",
			Why:    "inotify_init as above; modify_ldt (16-bit segments, for Wine and DOS emulators) as kernel surface no language needs.",
			Arches: []string{"amd64"},
			Rules:  []Rule{fail(ENOSYS, "inotify_init", "modify_ldt")},
		},
	}
}

// cloneRules allow clone when no namespace flag is set and refuse each
// namespace flag with EPERM; the conditions never overlap.
func cloneRules() []Rule {
	rules := []Rule{{Names: []string{"clone"}, Conds: []Cond{flagsClear(0, namespaceMask())}}}
	for _, f := range namespaceFlags {
		rules = append(rules, Rule{Names: []string{"clone"}, Errno: EPERM, Conds: []Cond{flagSet(0, f)}})
	}
	return rules
}

// ipProtocols are the protocols of AF_INET and AF_INET6 sockets that runs
// may open: the default of the type, TCP, UDP and ping's ICMP. Others are
// kernel surface no language needs (SCTP, DCCP, UDP-Lite, MPTCP, L2TP, ...,
// and on a modular kernel socket() would load their module for the whole
// host); they get the default error.
var ipProtocols = map[uint64][]uint64{
	afInet:  {ipprotoDefault, ipprotoICMP, ipprotoTCP, ipprotoUDP},
	afInet6: {ipprotoDefault, ipprotoICMPv6, ipprotoTCP, ipprotoUDP},
}

// socketRules allow socket and socketpair for the families runs need and
// refuse every other family numbered below familiesNamed with
// EAFNOSUPPORT; inet and inet6 are allowed for ipProtocols, netlink for the
// route protocol only.
func socketRules() []Rule {
	var rules []Rule
	for _, name := range []string{"socket", "socketpair"} {
		for family := uint64(0); family < familiesNamed; family++ {
			r := Rule{Names: []string{name}, Conds: []Cond{intIs(0, family)}}
			switch family {
			case afUnix:
			case afInet, afInet6:
				for _, proto := range ipProtocols[family] {
					rules = append(rules, Rule{Names: []string{name}, Conds: []Cond{intIs(0, family), intIs(2, proto)}})
				}
				continue
			case afNetlink:
				for proto := uint64(0); proto < netlinkProtocols; proto++ {
					r := Rule{Names: []string{name}, Conds: []Cond{intIs(0, family), intIs(2, proto)}}
					if proto != netlinkRoute {
						r.Errno = EPROTONOSUPPORT
					}
					rules = append(rules, r)
				}
				continue
			default:
				r.Errno = EAFNOSUPPORT
			}
			rules = append(rules, r)
		}
	}
	return rules
}
