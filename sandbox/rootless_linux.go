package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// Rootless mode, as runc's rootless containers work: the daemon runs as an
// ordinary user, so
//
//   - a run's user namespace can map only the daemon's own uid and gid (to 0
//     inside, one id each): writing any other mapping takes CAP_SETUID and
//     CAP_SETGID in the parent namespace, or the setuid newuidmap and
//     newgidmap with a range in /etc/subuid and /etc/subgid. Every run
//     therefore has the daemon's uid on the host; runs stay apart through
//     their own pid, mount, network and ipc namespaces, not through uids.
//   - setgroups(2) is denied in that namespace (user_namespaces(7)), so a
//     run would keep the daemon's supplementary groups: the daemon must
//     have none.
//   - job cgroups are only possible in a cgroup v2 subtree delegated to the
//     daemon's uid (cgroup-v2.rst, "Delegation"); cgroup v1 has no safe
//     delegation to an unprivileged user.
//   - loading the device cgroup's eBPF program needs privilege, so runs have
//     no device cgroup; the user namespace keeps them from creating device
//     nodes, and /dev holds only the nodes bind-mounted from the host.
//
// Everything else of a run (namespaces, writable root, tmpfs mounts, no
// capabilities, no_new_privs, seccomp, limits, kill through cgroup.kill,
// statistics, cleanup) is the same as under root, given a user namespace of
// the daemon's own (EnterUserNS, userns_linux.go); but the run sees the
// image's files as the daemon's user does, with no idmapping.

// ErrNoRootless is returned by New when Options.Rootless is set on a host
// that cannot run rootless; the error says what is missing and how to
// provide it.
var ErrNoRootless = errors.New("this host cannot run the sandbox rootless")

// checkRootless checks what rootless mode needs of the daemon's process and
// the host before anything is changed: an unprivileged euid, cgroup v2, no
// supplementary groups, and user namespaces that an unprivileged user may
// create. bashPath is the static Bash that New has checked; it runs `:` once
// in a user namespace to find out whether the host allows that.
func checkRootless(bashPath string) error {
	if err := checkRootlessProcess(); err != nil {
		return err
	}
	if err := probeUserNS(bashPath, os.Geteuid(), os.Getegid()); err != nil {
		return fmt.Errorf("%w: rootless mode needs user namespaces that an unprivileged user may create, and creating one failed: %v%s",
			ErrNoRootless, err, userNSHint())
	}
	return nil
}

// checkRootlessProcess checks what rootless mode needs of the daemon's own
// process: an unprivileged euid (or root of a user namespace that maps
// only the daemon's own ids, see HostUser), cgroup v2, and no
// supplementary groups (in such a namespace, unmapped groups show as
// 65534: still refused).
func checkRootlessProcess() error {
	uid, gid := os.Geteuid(), os.Getegid()
	if _, _, ownNS := HostUser(); uid == 0 && !ownNS {
		return errors.New("rootless mode as root would map every run to the host's root: run as root without it, or as an unprivileged user")
	}
	if cgroups.Mode() != cgroups.Unified {
		return fmt.Errorf("%w: rootless mode needs cgroup v2, and this host mounts cgroup v1 hierarchies (the %s layout); "+
			"cgroup v1 cannot delegate a subtree to an unprivileged user, so runs could not be given limits: "+
			"run atod as root here, or boot the host with cgroup v2 only (systemd.unified_cgroup_hierarchy=1)",
			ErrNoRootless, cgroupModeName(cgroups.Mode()))
	}
	groups, err := unix.Getgroups()
	if err != nil {
		return fmt.Errorf("reading supplementary groups: %w", err)
	}
	groups = slices.DeleteFunc(groups, func(g int) bool { return g == gid })
	if len(groups) > 0 {
		return fmt.Errorf("%w: the daemon has the supplementary groups %v, which every run would keep "+
			"(an unprivileged user namespace cannot drop them); start it without any "+
			"(a user in no group of /etc/group, setpriv --clear-groups)", ErrNoRootless, groups)
	}
	return nil
}

// probeUserNS runs the static Bash's `:` in a new user namespace with the
// mapping every rootless run gets, uid and gid 0 inside to uid and gid
// outside, and waits for it. Only the creation of the namespace and its
// mappings matter, which Start reports; the exit status does not.
func probeUserNS(bashPath string, uid, gid int) error {
	cmd := exec.Command(bashPath, "-c", ":")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
		// setgroups must be denied before an unprivileged process may
		// write gid_map (user_namespaces(7)).
		GidMappingsEnableSetgroups: false,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = cmd.Wait()
	return nil
}

// userNSHint names the sysctl that turns unprivileged user namespaces off,
// when one does.
func userNSHint() string {
	knobs := []struct{ path, off, say string }{
		{"/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces is 0"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone is 0"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns is 1"},
	}
	var found []string
	for _, k := range knobs {
		if b, err := os.ReadFile(k.path); err == nil && strings.TrimSpace(string(b)) == k.off {
			found = append(found, k.say)
		}
	}
	if len(found) == 0 {
		return ""
	}
	return " (" + strings.Join(found, ", ") + ": an administrator can change it with sysctl)"
}

// checkDelegated checks that the daemon's own cgroup v2, where delegateV2
// creates supervisor/ and the job cgroups, is delegated to the daemon's
// euid: the directory, cgroup.procs and cgroup.subtree_control must be
// writable, which is what systemd's Delegate=yes does for a service with
// User=.
func checkDelegated() error {
	uid, _, ownNS := HostUser() // who the daemon is on the host
	if !ownNS {
		uid = os.Geteuid()
	}
	own, err := ownCgroups()
	if err != nil {
		return err
	}
	base := delegatedBase(own[""])
	if base == "/" || base == "" {
		return fmt.Errorf("%w: atod runs in the root cgroup; run it in a cgroup delegated to uid %d "+
			"(systemd: a service with User= and Delegate=yes, or systemd-run --user -p Delegate=yes)", ErrNoRootless, uid)
	}
	dir := filepath.Join(cgroupRoot, base)
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		if err := unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_EACCESS); err != nil {
			return fmt.Errorf("%w: rootless mode needs the daemon's cgroup %s delegated to its uid %d, and it cannot write %s (%v); "+
				"run it as a systemd service with User= and Delegate=yes (or under systemd-run --user -p Delegate=yes), "+
				"or chown the cgroup directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads to the user",
				ErrNoRootless, base, uid, p, err)
		}
	}
	return nil
}

func cgroupModeName(m cgroups.CGMode) string {
	switch m {
	case cgroups.Legacy:
		return "legacy"
	case cgroups.Hybrid:
		return "hybrid"
	case cgroups.Unified:
		return "unified"
	default:
		return "none"
	}
}
