// Package leftovers finds what a run may leave behind on the host: processes
// running as its uids, job cgroups, mounts and state files. The sandbox's and
// the daemon's tests use it to prove that nothing of a run outlives it.
package leftovers

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Processes lists host processes whose real uid is in [lo, hi).
func Processes(lo, hi int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // gone meanwhile
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "Uid:" {
				if uid, err := strconv.Atoi(fields[1]); err == nil && uid >= lo && uid < hi {
					pids = append(pids, pid)
				}
			}
		}
	}
	return pids, nil
}

// JobCgroups lists job cgroups (directories named atod-*) that a daemon
// running in this process's cgroups with cgroup parent name would create:
// <own>/<name>/atod-* in every v1 hierarchy and the hybrid cgroup2 mount,
// and, on cgroup v2, atod-* beside this process's cgroup.
func JobCgroups(name string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading own cgroups: %w", err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var parents []string
		switch {
		case parts[1] == "":
			if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
				parents = []string{filepath.Join("/sys/fs/cgroup/unified", parts[2], name)}
			} else {
				own := filepath.Join("/sys/fs/cgroup", parts[2])
				parents = []string{own, filepath.Dir(own)}
			}
		case strings.HasPrefix(parts[1], "name="):
			parents = []string{filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(parts[1], "name="), parts[2], name)}
		default:
			parents = []string{filepath.Join("/sys/fs/cgroup", strings.Split(parts[1], ",")[0], parts[2], name)}
		}
		for _, parent := range parents {
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.IsDir() && strings.HasPrefix(e.Name(), "atod-") && e.Name() != name {
					found = append(found, filepath.Join(parent, e.Name()))
				}
			}
		}
	}
	return found, nil
}

// MountsUnder lists mount points at or below dir in the mount namespace of
// process pid (0: this process's).
func MountsUnder(pid int, dir string) ([]string, error) {
	table := "/proc/self/mountinfo"
	if pid != 0 {
		table = fmt.Sprintf("/proc/%d/mountinfo", pid)
	}
	b, err := os.ReadFile(table)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			found = append(found, f[4])
		}
	}
	return found, nil
}

// StateEntries lists what remains in a sandbox state directory's jobs/ and
// roots/ subdirectories, as seen from root (a
// process's /proc/PID/root, or "" for this process's view).
func StateEntries(root, stateDir string) ([]string, error) {
	var found []string
	for _, sub := range []string{"jobs", "roots"} {
		entries, err := os.ReadDir(root + filepath.Join(stateDir, sub))
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("listing state: %w", err)
		}
		for _, e := range entries {
			found = append(found, filepath.Join(sub, e.Name()))
		}
	}
	return found, nil
}

// isDaemonCopy reports whether pid is a child of the daemon running the
// daemon's own binary: the copy of itself that a daemon re-executes in a
// namespace of its own (a rootless daemon's user namespace, a root daemon's
// cgroup view on v2), which is the daemon, not a leftover.
func isDaemonCopy(pid, daemon int) bool {
	if daemon == 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The parent's pid is the second field after the command, which is in
	// parentheses and may hold anything.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	var state string
	var ppid int
	if _, err := fmt.Sscan(string(rest), &state, &ppid); err != nil || ppid != daemon {
		return false
	}
	exe, err1 := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	dexe, err2 := os.Readlink(fmt.Sprintf("/proc/%d/exe", daemon))
	return err1 == nil && err2 == nil && exe == dexe
}

// DaemonCopy is the child of daemon that is a copy of it, re-executed in a
// namespace of its own (isDaemonCopy), or 0 when it has none.
func DaemonCopy(daemon int) int {
	// Each thread lists the children it forked: the Go runtime forks on
	// whichever thread the goroutine runs on.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", daemon))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && isDaemonCopy(pid, daemon) {
				return pid
			}
		}
	}
	return 0
}

// Scope says whose leftovers to look for.
type Scope struct {
	UIDLo, UIDHi int // the runs' host uids, [UIDLo, UIDHi)
	// DaemonPID is the daemon's process, which is no leftover although it
	// has the runs' uid when it is rootless (0: none).
	DaemonPID  int
	CgroupName string // the daemon's cgroup parent name
	StateDir   string // the sandbox's state directory
	// StateDirMounted: a service manager made the state directory itself
	// a mount point (systemd bind-mounts a namespaced unit's
	// RuntimeDirectory), which is then no run's.
	StateDirMounted bool
}

// daemonView is the process whose mount namespace holds the runs' mounts of
// the daemon daemonPID (0 and "" for this process's), and the path of its
// root: the daemon's runs mount in its own mount namespace, that of the copy
// of itself it re-executed there, while it runs, and the job files live on
// its tmpfs there.
func daemonView(daemonPID int) (ns int, root string) {
	if daemonPID == 0 {
		return 0, ""
	}
	ns = daemonPID
	if c := DaemonCopy(daemonPID); c != 0 {
		ns = c
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/mountinfo", ns)); err != nil {
		return 0, "" // gone, and its namespace with it
	}
	return ns, fmt.Sprintf("/proc/%d/root", ns)
}

// RunProcesses lists the processes of scope's runs: those with the runs'
// uids but the daemon itself and the sandboxes it keeps prepared ahead.
func RunProcesses(s Scope) ([]int, error) {
	pool, err := Pool(s)
	if err != nil {
		return nil, err
	}
	return runProcesses(s, pool)
}

func runProcesses(s Scope, pool map[string]bool) ([]int, error) {
	pids, err := Processes(s.UIDLo, s.UIDHi)
	if err != nil {
		return nil, err
	}
	var runs []int
	for _, p := range pids {
		if p != s.DaemonPID && !isDaemonCopy(p, s.DaemonPID) && !inPool(p, pool) {
			runs = append(runs, p)
		}
	}
	return runs, nil
}

// Pool lists the ids of the sandboxes scope's daemon keeps prepared ahead.
func Pool(s Scope) (map[string]bool, error) {
	_, _, pool, err := view(s)
	return pool, err
}

// view is daemonView of scope's daemon and its pool. A dead daemon has
// none: what its list names is left over like the rest.
func view(s Scope) (ns int, root string, pool map[string]bool, err error) {
	ns, root = daemonView(s.DaemonPID)
	if s.DaemonPID != 0 && ns == 0 {
		return ns, root, map[string]bool{}, nil
	}
	pool, err = PoolMembers(root, s.StateDir)
	return ns, root, pool, err
}

// PoolDir is where a sandbox lists its idle prepared sandboxes, one empty
// file each named by its id, below its state directory (the sandbox's
// poolDir).
const PoolDir = "prepared"

// PoolMembers are the ids of the sandboxes a daemon keeps prepared ahead,
// as seen from root (as StateEntries): they are the daemon's, not
// leftovers.
func PoolMembers(root, stateDir string) (map[string]bool, error) {
	entries, err := os.ReadDir(root + filepath.Join(stateDir, PoolDir))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("listing prepared sandboxes: %w", err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		ids[e.Name()] = true
	}
	return ids, nil
}

// inPool reports whether process pid belongs to one of the pool's
// sandboxes: it is in the job cgroup named by a member's id.
func inPool(pid int, pool map[string]bool) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, dir := range strings.Split(line, "/") {
			if pool[dir] {
				return true
			}
		}
	}
	return false
}

// Find describes everything of scope's runs that still exists, one line per
// leftover; none means nothing is left. The sandboxes the daemon keeps
// prepared ahead (PoolMembers) are not leftovers.
func Find(s Scope) ([]string, error) {
	var found []string
	ns, root, pool, err := view(s)
	if err != nil {
		return nil, err
	}
	pids, err := runProcesses(s, pool)
	if err != nil {
		return nil, err
	}
	for _, p := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		found = append(found, fmt.Sprintf("process %d (%s)", p, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	}
	cgs, err := JobCgroups(s.CgroupName)
	if err != nil {
		return nil, err
	}
	for _, c := range cgs {
		if !pool[filepath.Base(c)] {
			found = append(found, "cgroup "+c)
		}
	}
	mounts, err := MountsUnder(ns, s.StateDir)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		if m == s.StateDir && s.StateDirMounted {
			continue
		}
		// The daemon's own tmpfs mounts (sandbox/sharedmounts_linux.go)
		// are no run's: they go with its mount namespace. A sandbox in
		// the test's own process (DaemonPID 0) has them too, until Close.
		if (ns != 0 || s.DaemonPID == 0) && slices.Contains([]string{"jobs", "static", "roots"}, strings.TrimPrefix(m, s.StateDir+"/")) {
			continue
		}
		// A pool member's writable root: <state>/roots/<id>/...
		if rel, err := filepath.Rel(filepath.Join(s.StateDir, "roots"), m); err == nil && pool[strings.Split(rel, "/")[0]] {
			continue
		}
		found = append(found, "mount "+m)
	}
	state, err := StateEntries(root, s.StateDir)
	if err != nil {
		return nil, err
	}
	for _, e := range state {
		if !pool[filepath.Base(e)] { // <sub>/<id>
			found = append(found, "state "+e)
		}
	}
	return found, nil
}
