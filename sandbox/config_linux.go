package sandbox

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/sandbox/job"
)

// Paths inside the sandbox (the runner contract).
const (
	atoDir     = "/ATO"
	contextDir = "/ATO/context"
	yargsPath  = "/ATO/yargs" // the static init binary; PID 1 and /ATO/yargs
	hostname   = "ato"
)

// maxOpenFiles is the most a run's RLIMIT_NOFILE may be.
const maxOpenFiles = 4096

// minOpenFiles is the least a run's RLIMIT_NOFILE is, whatever the host's
// file table: language runtimes open a few dozen files of their own.
const minOpenFiles = 64

// openFilesLimit is a run's RLIMIT_NOFILE. The kernel's file table
// (fs.file-max) is one for the host: every task of every run holding all the
// files it may (slots × pids × the limit) must fit in half of it, or runs
// can make every other program of the host fail with ENFILE (issue 10: one
// run held 1M files, three runs filled the table). So the limit is
// maxOpenFiles, or less to fit, but not below minOpenFiles; fits says
// whether that fit. Rootless, it is at most the daemon's own hard limit,
// since raising a hard limit takes CAP_SYS_RESOURCE (setrlimit(2)).
func openFilesLimit(rootless bool, slots int, pids int64, fileMax uint64) (limit uint64, fits bool, err error) {
	ceiling := uint64(maxOpenFiles)
	if rootless {
		var own unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
			return 0, false, fmt.Errorf("reading the open files limit: %w", err)
		}
		ceiling = min(ceiling, own.Max) // never above what it may set
	}
	// Both factors are far below 2^32 in any configuration that starts.
	tasks := uint64(min(max(slots, 1), 1<<20)) * uint64(min(max(pids, 1), 1<<30))
	limit = min(ceiling, fileMax/2/tasks)
	return min(max(limit, minOpenFiles), ceiling), limit >= minOpenFiles, nil
}

// fileMax is the host's fs.file-max.
func fileMax() (uint64, error) { return sysctl("fs.file-max") }

// sysctl reads a sysctl that holds one number, by its dotted name.
func sysctl(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	var n uint64
	if _, err := fmt.Sscan(string(b), &n); err != nil {
		return 0, fmt.Errorf("reading %s %q: %w", name, b, err)
	}
	return n, nil
}

// epollWatchBytes is the least memory an epoll watch is charged to the
// memory cgroup of the task that adds it: its epitem (a 128-byte slab
// object), with no eppoll_entry for a file whose poll never waits on a
// queue, such as a /proc/sys file (most files add one: about 200 bytes).
const epollWatchBytes = 128

// epollWatchesNeeded is the least fs.epoll.max_user_watches that keeps
// rootless runs from starving each other and the daemon of epoll watches.
// The count is per host user, and every rootless run is the daemon's user
// (rootless_linux.go); nothing bounds a run's watches but its memory, so
// slots runs each filling their memory with the cheapest watches must fit
// in half the count, leaving the rest to the daemon, as for the other
// per-user counts (perUserShares).
func epollWatchesNeeded(slots int, memoryBytes int64) uint64 {
	return 2 * uint64(max(slots, 1)) * uint64(max(memoryBytes, 0)) / epollWatchBytes
}

// rootlessCountWarnings say which per-user counts of the host that all
// rootless runs share with the daemon one run could take whole, and what
// the operator can do about each: the daemon itself cannot change them.
// watches is fs.epoll.max_user_watches, pipeHard fs.pipe-user-pages-hard.
func rootlessCountWarnings(slots int, memoryBytes int64, watches, pipeHard uint64) []string {
	var warn []string
	if need := epollWatchesNeeded(slots, memoryBytes); watches < need {
		warn = append(warn, fmt.Sprintf("rootless runs share the daemon's user's %d epoll watches, and one run's memory holds %d: "+
			"a run could make every other run's epoll_ctl fail (ENOSPC); raise them with sysctl -w fs.epoll.max_user_watches=%d "+
			"(the runs' watches are charged to their memory; the setting is every user's) or lower concurrency or memory",
			watches, uint64(max(memoryBytes, 0))/epollWatchBytes, need))
	}
	if pipeHard != 0 {
		warn = append(warn, fmt.Sprintf("rootless runs share the daemon's user's pipe pages, and fs.pipe-user-pages-hard is %d: "+
			"a run could make every other run's pipe(2) fail; set it to 0 (sysctl -w fs.pipe-user-pages-hard=0), "+
			"which leaves the soft limit to shrink new pipes instead", pipeHard))
	}
	return warn
}

// perUserShares are the rlimits of a run that bound what it takes of
// per-user kernel budgets charged to the daemon's user: a run's user
// namespace is the daemon's, so POSIX message queue bytes and queued
// signals of every run count against the daemon's user too (root's, for a
// root daemon), up the namespace hierarchy (user_namespaces(7); kernel
// ucounts). Each run gets 1/(2*slots) of the daemon's own limit, so all
// runs together can take at most half, and the host's processes of that
// user keep the rest (issue 10: one run took all of host root's).
type perUserShares struct {
	msgqueue, sigpending uint64
}

// sharesOf divides the daemon's own limits among slots runs.
func sharesOf(slots int) (perUserShares, error) {
	share := func(resource int) (uint64, error) {
		var own unix.Rlimit
		if err := unix.Getrlimit(resource, &own); err != nil {
			return 0, fmt.Errorf("reading the daemon's rlimit %d: %w", resource, err)
		}
		cur := own.Cur
		if cur == unix.RLIM_INFINITY {
			// Unbounded for the daemon's user: bound each run as if
			// the default were in force.
			cur = defaultPerUser[resource]
		}
		// Never above the daemon's hard limit, which a rootless one
		// cannot exceed.
		return min(cur/uint64(2*max(slots, 1)), own.Max), nil
	}
	var s perUserShares
	var err error
	if s.msgqueue, err = share(unix.RLIMIT_MSGQUEUE); err != nil {
		return s, err
	}
	s.sigpending, err = share(unix.RLIMIT_SIGPENDING)
	return s, err
}

// mqueueSysctls make the default POSIX message queue (mq_open with no
// attributes: 10 messages of msgsize_default bytes) fit in a run's share of
// queue bytes, so that programs that take the defaults work at any
// concurrency: with 8 slots a run's share of Linux's default 819200 bytes is
// 51200, less than one default queue of 10 × 8192 bytes (issue 10). The
// sysctls are per IPC namespace, and each run has its own.
func mqueueSysctls(share uint64) map[string]string {
	const (
		messages = 10   // fs.mqueue.msg_default's default
		overhead = 2048 // the kernel's bookkeeping of 10 messages, generously (ipc/mqueue.c: mq_treesize)
		smallest = 128  // fs.mqueue.msgsize_default's lowest value
	)
	size := uint64(8192) // its default
	for size > smallest && messages*size+overhead > share {
		size /= 2
	}
	return map[string]string{"fs.mqueue.msgsize_default": fmt.Sprint(size)}
}

// defaultPerUser stand in for the per-user rlimits of a daemon whose own
// are unlimited: Linux's default for message queues (MQ_BYTES_MAX), and for
// pending signals a round figure (the kernel's default is max_threads/2,
// some tens of thousands).
var defaultPerUser = map[int]uint64{
	unix.RLIMIT_MSGQUEUE:   819200,
	unix.RLIMIT_SIGPENDING: 65536,
}

// jobFiles are the runner contract's files, in the order they are mounted.
var jobFiles = []string{"code", "input", "options", "arguments", "runner"}

// device is a character device node a run sees.
type device struct {
	path         string
	major, minor int64
}

// sandboxDevices are the device nodes a run sees, bound from the host (a
// user namespace cannot create device nodes); the run's device cgroup
// allows these and no other (deviceRules).
var sandboxDevices = []device{
	{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
	{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
}

// deviceRules allow exactly the devices of sandboxDevices.
func deviceRules() []specs.LinuxDeviceCgroup {
	// Everything refused first; -1 is every major and every minor (the
	// OCI runtime spec's wildcard).
	every := int64(-1)
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Type: "a", Major: &every, Minor: &every, Access: "rwm"}}
	for _, d := range sandboxDevices {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &d.major, Minor: &d.minor, Access: "rwm"})
	}
	return rules
}

// maskedPaths are hidden from a run (under /dev/null, or an empty read-only
// tmpfs): what they show of the host is none of a run's business, as in
// the field's default container configuration. Those missing on a kernel
// are skipped.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/proc/interrupts", "/proc/kallsyms", "/sys/firmware",
}

// readonlyPaths are read-only in a run, whatever a file's mode says.
var readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// setupPlan is what the setup of a sandbox for template key does (atod-init
// setup: cmd/atod-init/setup.c), whose root filesystem is rootfs (key.rootfs
// itself, read-only, or its writable root) and whose job files are in
// scratch.
//
// The mounts, in order: /proc, a tmpfs /dev with the few harmless devices,
// devpts and /dev/shm, a writable tmpfs /tmp, a writable tmpfs /ATO (so that
// runners may write e.g. /ATO/compiled), the job's files bind-mounted
// read-only into it, the init binary at /ATO/yargs, the static Bash at
// /ATO/bash, and the working directory /ATO/context as one more tmpfs.
// Every tmpfs is size-capped, and its pages are charged to the run's memory
// cgroup as well.
//
// /ATO and /ATO/context (mode 755) belong to the run's user, key.uid and
// key.gid; /tmp and /dev/shm are 1777 for anyone. The uid= and gid=
// options of a tmpfs are read in the user namespace of the process that
// mounts it, the setup's, so they are the ids of the run as it sees them.
//
// Then the new root becomes /, and: the IPC namespace's message queue size,
// the read-only and masked paths of /proc, the root read-only unless it is
// the run's own overlay (rootless runs get the image's tree itself, which
// they must not change), the host name, the loopback interface, and the
// run's ids with no capability, no_new_privs and the seccomp filter for
// init. A rootless sandbox cannot call setgroups(2) (its gid mapping is
// written after setgroups is denied) and needs not: the daemon has no
// supplementary groups (checkRootless).
func (s *Sandbox) setupPlan(key *template, rootfs string, scratch string) initproto.Plan {
	l := key.limits
	const noSuidDev = unix.MS_NOSUID | unix.MS_NODEV
	flags := func(f uintptr) string { return strconv.FormatUint(uint64(f), 10) }
	mount := func(fstype string, f uintptr, data, target string) initproto.Op {
		return initproto.Op{Name: "mount", Args: []string{fstype, fstype, flags(f), data, target}}
	}
	tmpfs := func(dst, mode string) initproto.Op {
		return mount("tmpfs", noSuidDev, fmt.Sprintf("mode=%s,size=%d,nr_inodes=%d", mode, l.TmpfsBytes, 16384), dst)
	}
	// owned is a tmpfs that belongs to the run's user.
	owned := func(dst string) initproto.Op {
		op := tmpfs(dst, "755")
		op.Args[3] += fmt.Sprintf(",uid=%d,gid=%d", key.uid, key.gid)
		return op
	}
	bind := func(src, dst string, f uintptr) initproto.Op {
		return initproto.Op{Name: "bind", Args: []string{src, dst, flags(f)}}
	}
	op := func(name string, args ...string) initproto.Op { return initproto.Op{Name: name, Args: args} }

	plan := initproto.Plan{
		op("root", rootfs),
		mount("proc", noSuidDev|unix.MS_NOEXEC, "", "/proc"),
		// /dev holds only mount points and links: a little room, few
		// inodes, no executables, so that it is no second scratch space.
		mount("tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME, "mode=755,size=256k,nr_inodes=256", "/dev"),
		mount("devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", "/dev/pts"),
		tmpfs("/dev/shm", "1777"),
		tmpfs("/tmp", "1777"),
		owned(atoDir),
	}
	for _, f := range jobFiles {
		if f == "input" && key.interactive {
			// The run's stdin, a pipe the daemon feeds (feedStdin):
			// init's own stdin, which the runner gets; "<
			// /ATO/input" reopens it.
			plan = append(plan, op("symlink", "/proc/self/fd/0", filepath.Join(atoDir, f)))
			continue
		}
		plan = append(plan, bind(filepath.Join(scratch, f), filepath.Join(atoDir, f), unix.MS_RDONLY|noSuidDev))
	}
	yargs, bash := s.initPath, s.bashPath
	if s.shared != nil { // copies whose paths say nothing of the host
		yargs, bash = s.shared.yargs, s.shared.bash
	}
	plan = append(plan,
		bind(yargs, yargsPath, unix.MS_RDONLY|noSuidDev),
		bind(bash, job.BashPath, unix.MS_RDONLY|noSuidDev),
		owned(contextDir))
	for _, d := range sandboxDevices {
		plan = append(plan, bind(d.path, d.path, 0))
	}
	for _, link := range [][2]string{
		{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"},
	} {
		plan = append(plan, op("symlink", link[0], link[1]))
	}
	plan = append(plan, op("pivot"))
	sysctls := mqueueSysctls(s.shares.msgqueue)
	for _, k := range slices.Sorted(maps.Keys(sysctls)) {
		plan = append(plan, op("sysctl", k, sysctls[k]))
	}
	for _, p := range readonlyPaths {
		plan = append(plan, op("readonly", p))
	}
	for _, p := range maskedPaths {
		plan = append(plan, op("mask", p))
	}
	if rootfs == key.rootfs {
		plan = append(plan, op("remount-ro", "/"))
	}
	setgroups := "1"
	if s.rootless {
		setgroups = "0"
	}
	return append(plan,
		op("hostname", hostname),
		op("loopback"),
		op("chdir", contextDir),
		op("user", fmt.Sprint(key.uid), fmt.Sprint(key.gid), setgroups),
		op("exec", yargsPath))
}

// rlimits are a run's resource limits, which the daemon sets on its setup
// process (a process in a user namespace cannot raise a hard limit).
func (s *Sandbox) rlimits() map[int]uint64 {
	return map[int]uint64{
		// No core files: a dump would fill the run's tmpfs and cost time;
		// a crash is reported as killed by its signal.
		unix.RLIMIT_CORE:       0,
		unix.RLIMIT_NOFILE:     s.nofile,
		unix.RLIMIT_MSGQUEUE:   s.shares.msgqueue,
		unix.RLIMIT_SIGPENDING: s.shares.sigpending,
	}
}

// oomScoreAdj is a run's: the OOM killer takes a run before anything else.
const oomScoreAdj = 1000

// idMappings is the user namespace mapping of one kind of id (uids or
// gids) of a run whose processes have the id run inside and host outside.
//
// When run is 0 that is all. Otherwise root is mapped as well, to the host
// id root: the setup runs as root of the namespace it is in, whose files it
// creates (mount points, links) and which must own the namespace's /proc,
// before it drops to the run's ids. Host ids cannot be shared between two
// ids inside (user_namespaces(7): extents may not overlap), so root gets an
// id of its own. Only the setup ever has it: no process of the run is root
// of its namespace, and none can become root, lacking CAP_SETUID and with
// no_new_privs set.
func idMappings(run uint32, host, root int) string {
	m := fmt.Sprintf("%d %d 1\n", run, host)
	if run != 0 {
		m += fmt.Sprintf("0 %d 1\n", root)
	}
	return m
}
