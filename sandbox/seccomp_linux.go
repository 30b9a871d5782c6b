package sandbox

import (
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM for every process of a run. It is a deny
// list on top of what an unprivileged uid without capabilities in its own
// user namespace may do anyway: it closes the kernel interfaces that have a
// history of privilege escalations or that let a run escape its namespaces.
// Non-native ABIs (i386 int 0x80, x32) are refused because the filter lists
// only the native architecture: libseccomp fails every syscall of another.
var deniedSyscalls = []string{
	// Debugging and reading other processes.
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	// Kernel keyrings.
	"keyctl", "add_key", "request_key",
	// BPF, perf and other kernel-facing interfaces.
	"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "fanotify_init",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// Kernel images and modules.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	// Mounts and namespaces (the sandbox sets these up before the runner starts).
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"open_by_handle_at", "name_to_handle_at",
	// Host-wide state.
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "syslog", "quotactl", "quotactl_fd", "vhangup", "iopl", "ioperm",
	"sethostname", "setdomainname", "uselib", "ustat", "sysfs", "nfsservctl",
}

// absentSyscalls fail with ENOSYS, as on a kernel without them, so that
// programs fall back to what they do there. Linux AIO's contexts come from
// one host-wide pool (fs.aio-max-nr, 65536 events) that no cgroup or
// rlimit bounds: one run could reserve all of it, and io_setup would then
// fail for the host and every other run (issue 10). Programs and language
// runtimes do without it (glibc's POSIX AIO uses threads).
//
// inotify instances are a per-user count charged up the user namespace
// hierarchy to the daemon's user (fs.inotify.max_user_instances, 128 by
// default), which no rlimit of a run can bound and no sysctl libcontainer
// sets: without inotify, programs poll (tail -f does).
var absentSyscalls = []string{
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"inotify_init", "inotify_init1",
}

// deniedSocketFamilies are address families a run may not open sockets of:
// vsock is not network-namespaced (it reaches the hypervisor and host
// agents from inside the run's empty network namespace), and AF_ALG exposes
// the kernel's crypto API, a frequent source of kernel bugs.
var deniedSocketFamilies = []uint64{unix.AF_VSOCK, unix.AF_ALG}

// namespaceFlags are the clone flags that create namespaces; clone with any
// of them is refused like unshare.
var namespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER,
	unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME,
}

// intArgIs matches argument index of a syscall whose parameter is a C int
// (32 bits) equal to value. The filter sees all 64 bits of the register,
// and the kernel reads only the low 32: an EqualTo would let
// socket(AF_VSOCK | 1<<32, ...) through, which the kernel takes for
// AF_VSOCK. So the high half is masked off (MaskEqualTo: Value is the mask,
// ValueTwo what the masked argument must equal).
func intArgIs(index uint, value uint64) *configs.Arg {
	return &configs.Arg{Index: index, Value: 0xffff_ffff, ValueTwo: value, Op: configs.MaskEqualTo}
}

func seccompConfig() *configs.Seccomp {
	eperm := uint(unix.EPERM)
	enosys := uint(unix.ENOSYS)
	var rules []*configs.Syscall
	for _, name := range deniedSyscalls {
		rules = append(rules, &configs.Syscall{Name: name, Action: configs.Errno, ErrnoRet: &eperm})
	}
	// libseccomp can only compare (arg & mask) == value, so each namespace
	// flag gets a rule of its own. The mask looks only at the flag's own
	// bit, so whatever else the register holds changes nothing.
	for _, flag := range namespaceFlags {
		rules = append(rules, &configs.Syscall{
			Name: "clone", Action: configs.Errno, ErrnoRet: &eperm,
			Args: []*configs.Arg{{Index: 0, Value: flag, ValueTwo: flag, Op: configs.MaskEqualTo}},
		})
	}
	for _, family := range deniedSocketFamilies {
		rules = append(rules, &configs.Syscall{
			Name: "socket", Action: configs.Errno, ErrnoRet: &eperm,
			Args: []*configs.Arg{intArgIs(0, family)},
		})
	}
	// clone3 passes its flags in memory, out of seccomp's reach: refuse it
	// with ENOSYS, which makes the C library fall back to clone.
	for _, name := range append([]string{"clone3"}, absentSyscalls...) {
		rules = append(rules, &configs.Syscall{Name: name, Action: configs.Errno, ErrnoRet: &enosys})
	}
	return &configs.Seccomp{
		DefaultAction: configs.Allow,
		Architectures: []string{"amd64"},
		Syscalls:      rules,
	}
}
