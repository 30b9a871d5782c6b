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

// ownMountsEnv marks a daemon that EnterOwnMountNamespace re-executed; its
// value is the host path of the cgroup its view of the cgroup tree is
// rooted at, or empty for the whole tree (cgroup v1 and hybrid).
const ownMountsEnv = "_ATOD_OWN_MOUNTS"

// EnterOwnMountNamespace gives a daemon running as root a private mount
// namespace, and on cgroup v2 a view of the cgroup tree whose root is its
// own delegated cgroup. It re-executes the program in the new namespace,
// waits for it, forwards signals to it (runInstead), and exits with its
// status. In the re-executed program it bind-mounts the delegated cgroup
// over /sys/fs/cgroup (v2) and returns that cgroup's host path, for
// Options.CgroupView, or "" (v1). Without root, or in such a namespace
// already, it does nothing and returns "".
//
// Why a mount namespace: every run's writable root is a few mounts
// (writableroot_linux.go). In the host's namespace they would reach every
// peer and slave namespace of /run, make systemd reread the mount table
// for each run, and outlive a daemon killed mid-run; in a private one they
// stay the daemon's and go with it.
//
// Why the cgroup view: cgroup libraries enable all controllers in the
// subtree_control of every ancestor of a cgroup they create, up to the
// root (containerd's cgroup2.NewManager; libcontainer, which started runs
// until issue 13, did on every start) — cgroups atod does not own. With
// the delegated cgroup as the root of what the daemon sees, no such write
// can leave it. (A cgroup namespace would not
// do: it is rooted where the daemon already lives, which after a restart
// may be its supervisor leaf; a bind mount can be rooted anywhere.)
//
// Call it first thing in main. The mount namespace is private (Go's
// Unshareflags makes / MS_PRIVATE), so nothing of it reaches the host.
func EnterOwnMountNamespace() (string, error) {
	if base, ok := os.LookupEnv(ownMountsEnv); ok {
		if base == "" {
			return "", nil
		}
		src := filepath.Join(cgroupRoot, base)
		if err := unix.Mount(src, cgroupRoot, "", unix.MS_BIND, ""); err != nil {
			return "", fmt.Errorf("mounting the delegated cgroup %s over %s: %w", base, cgroupRoot, err)
		}
		return base, nil
	}
	if _, _, ownNS := HostUser(); os.Geteuid() != 0 || ownNS {
		// A rootless daemon has a mount namespace of its own already
		// (EnterUserNS), and writes only what its user owns.
		return "", nil
	}
	base := ""
	if cgroups.Mode() == cgroups.Unified {
		own, err := ownCgroups()
		if err != nil {
			return "", err
		}
		if base = delegatedBase(own[""]); base == "/" {
			return "", errors.New("preparing cgroups: atod runs in the root cgroup; run it in a delegated cgroup of its own (systemd: Delegate=yes)")
		}
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), ownMountsEnv+"="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := runInstead(cmd); err != nil {
		return "", fmt.Errorf("re-executing in a mount namespace of its own: %w", err)
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
