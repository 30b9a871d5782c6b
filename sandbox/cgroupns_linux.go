package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// cgroupViewEnv carries, to a daemon re-executed by EnterOwnCgroupView, the
// host path of the cgroup its view is rooted at.
const cgroupViewEnv = "_ATOD_CGROUP_VIEW"

// EnterOwnCgroupView gives a daemon running as root on cgroup v2 a view of
// the cgroup tree whose root is its own delegated cgroup. It re-executes
// the program in a private mount namespace, waits for it, forwards SIGINT,
// SIGTERM and SIGHUP to it, and exits with its status. In the re-executed
// program it bind-mounts the delegated cgroup over /sys/fs/cgroup and
// returns that cgroup's host path, for Options.CgroupView. On cgroup v1,
// without root, or when a view is set up already, it does nothing and
// returns "".
//
// Why: libcontainer, on every container start, enables all controllers in
// the subtree_control of every ancestor of the run's cgroup up to the root
// (opencontainers/cgroups fs2.CreateCgroupPath) — cgroups atod does not own.
// With the delegated cgroup as the root of what the daemon sees, those
// writes stay inside it. (A cgroup namespace would not do: it is rooted
// where the daemon already lives, which after a restart may be its
// supervisor leaf; a bind mount can be rooted anywhere.)
//
// Call it first thing in main. The mount namespace is private (Go's
// Unshareflags makes / MS_PRIVATE), so nothing of it reaches the host.
func EnterOwnCgroupView() (string, error) {
	if base := os.Getenv(cgroupViewEnv); base != "" {
		src := filepath.Join(cgroupRoot, base)
		if err := unix.Mount(src, cgroupRoot, "", unix.MS_BIND, ""); err != nil {
			return "", fmt.Errorf("mounting the delegated cgroup %s over %s: %w", base, cgroupRoot, err)
		}
		return base, nil
	}
	if _, _, ownNS := HostUser(); os.Geteuid() != 0 || ownNS || cgroups.Mode() != cgroups.Unified {
		// A rootless daemon (EnterUserNS) writes only what its user owns.
		return "", nil
	}
	own, err := ownCgroups()
	if err != nil {
		return "", err
	}
	base := delegatedBase(own[""])
	if base == "/" {
		return "", errors.New("preparing cgroups: atod runs in the root cgroup; run it in a delegated cgroup of its own (systemd: Delegate=yes)")
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), cgroupViewEnv+"="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := runInstead(cmd); err != nil {
		return "", fmt.Errorf("re-executing with its own cgroup view: %w", err)
	}
	return "", nil // not reached
}

// delegatedBase is the daemon's delegated cgroup given its own: the daemon
// lives in base/supervisor once it has set up (and after a restart in the
// same cgroup), in base before.
func delegatedBase(own string) string {
	if filepath.Base(own) == supervisorLeaf {
		return filepath.Dir(own)
	}
	return own
}
