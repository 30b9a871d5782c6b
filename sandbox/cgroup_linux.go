package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/sandbox/job"
)

const (
	cgroupRoot    = "/sys/fs/cgroup"
	unifiedHybrid = "/sys/fs/cgroup/unified" // the cgroup2 mount of the hybrid layout
	cpuPeriodUs   = 100000
	// supervisorLeaf is where the daemon moves itself on cgroup v2, so that
	// its own cgroup may hold job cgroups (the no-internal-process rule).
	supervisorLeaf = "supervisor"
	// emptyTimeout bounds the wait for a killed cgroup to become empty.
	emptyTimeout = 10 * time.Second
	// initExitTimeout bounds the wait for an init that has reported its
	// run's end to exit by itself; past it the cgroup kill ends it.
	initExitTimeout = 2 * time.Second
)

// v1Controllers are the v1 hierarchies a run is in: those whose limits,
// statistics and freezer atod uses, and the device cgroup. In the others
// (blkio, cpuset, net_cls, ...), which would limit nothing, a run stays in
// the daemon's cgroup.
var v1Controllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Freezer, cgroup1.Devices}

// cgroupTree is the daemon's own part of the cgroup hierarchy, under which
// every job cgroup is created.
//
// On cgroup v1 and on the hybrid layout, job cgroups are nested under the
// daemon's own cgroup in each hierarchy: <own>/<parent>/<job>. On cgroup v2
// the daemon's cgroup must be delegated to it (systemd Delegate=yes): the
// daemon moves itself into the leaf <own>/supervisor and creates job cgroups
// beside it as <own>/<job>.
type cgroupTree struct {
	mode     cgroups.CGMode
	parent   string       // v1 and hybrid: the path of job cgroups relative to the daemon's own
	v2Base   string       // v2: the absolute group holding supervisor/ and the job cgroups
	hybrid   string       // hybrid: absolute path of <own unified>/<parent>
	hasMemsw bool         // v1: memory+swap accounting exists (then swap is limited to 0)
	hasTCP   bool         // v1: socket buffers can be limited (memory.kmem.tcp.limit_in_bytes)
	v1Parent cgroup1.Path // v1: <own>/<parent> in every hierarchy, computed once
	// v1Subsystems are the hierarchies job cgroups are made in
	// (v1Controllers that are mounted), found once: cgroup1.Default
	// reads the mount table, 1 % of the machine's CPU when it was read
	// for every run (issue 13).
	v1Subsystems []cgroup1.Subsystem
	v1Owned      []string   // v1: <own>/<parent> in the hierarchies atod limits, which it holds locked
	locks        []*os.File // v1: the flocks on v1Owned, held for the daemon's life
	// v1Index is, for each of v1Controllers this host has, the place of
	// its hierarchy in v1Owned and locks (cpu and cpuacct are often one).
	v1Index map[cgroup1.Name]int
	// sharedDevices: runs join the device cgroup <own>/<parent> itself,
	// which allows the sandbox's devices alone (restrictDevices), rather
	// than device cgroups of their own, each with the same rules: a
	// directory and seven writes less for every run.
	sharedDevices bool
	log           *slog.Logger
}

// newCgroupTree prepares the daemon's cgroup tree. name is the v1 parent
// directory (e.g. "atod") under which job cgroups are nested. ownRoot says
// the daemon's view of the cgroup2 tree is rooted at its delegated cgroup
// (see EnterOwnMountNamespace). A rootless daemon (only on cgroup v2:
// checkRootless) must own its cgroup.
func newCgroupTree(name string, ownRoot, rootless bool, log *slog.Logger) (_ *cgroupTree, err error) {
	t := &cgroupTree{mode: cgroups.Mode(), parent: name, log: log}
	defer func() {
		if err != nil {
			t.unlock() // for a next try in this process
		}
	}()
	switch t.mode {
	case cgroups.Unified:
		if rootless {
			if err := checkDelegated(); err != nil {
				return nil, err
			}
		}
		if err := t.delegateV2(ownRoot); err != nil {
			return nil, err
		}
		return t, nil
	case cgroups.Legacy, cgroups.Hybrid:
		t.v1Parent = cgroup1.NestedPath(name)
		if t.v1Subsystems, err = v1Hierarchy(); err != nil {
			return nil, fmt.Errorf("finding the cgroup v1 hierarchies: %w", err)
		}
		if err := t.lockV1(); err != nil {
			return nil, err
		}
		for _, s := range t.v1Subsystems {
			if _, ok := t.v1Index[s.Name()]; !ok {
				return nil, fmt.Errorf("finding the cgroup v1 hierarchies: the %s hierarchy is mounted, but not in /proc/self/cgroup", s.Name())
			}
		}
		own, err := ownCgroups()
		if err != nil {
			return nil, err
		}
		mem, ok := own["memory"]
		if !ok {
			return nil, errors.New("finding the memory cgroup: the memory controller is not mounted")
		}
		if _, err := os.Stat(filepath.Join(cgroupRoot, "memory", mem, "memory.memsw.limit_in_bytes")); err == nil {
			t.hasMemsw = true
		}
		if _, err := os.Stat(filepath.Join(cgroupRoot, "memory", mem, "memory.kmem.tcp.limit_in_bytes")); err == nil {
			t.hasTCP = true
		} else {
			// cgroup v1 charges socket buffers only to this counter, so
			// without it nothing but net.ipv4.tcp_mem bounds them.
			log.Warn("the kernel's cgroup v1 memory controller does not count socket buffers (no memory.kmem.tcp.limit_in_bytes, as with cgroup.memory=nokmem): a run's unread TCP buffers are bounded only by net.ipv4.tcp_mem, host-wide; use cgroup v2 or a kernel with kernel memory accounting")
		}
		if t.mode == cgroups.Hybrid {
			if u, ok := own[""]; ok {
				t.hybrid = filepath.Join(unifiedHybrid, u, name)
				if err := os.Mkdir(t.hybrid, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
					return nil, fmt.Errorf("creating cgroup %s: %w", t.hybrid, err)
				}
			}
		}
		return t, nil
	default:
		return nil, errors.New("finding cgroups: no cgroup hierarchy is mounted at /sys/fs/cgroup")
	}
}

// lockV1 creates the parent of job cgroups in each hierarchy atod limits
// and takes an exclusive flock on it for the daemon's life. Those parents
// are where a starting daemon looks for the job cgroups a dead one left and
// kills what it finds (removeStale), and in a hierarchy where daemons share
// their own cgroup (the root, often) two daemons of one --cgroup-name would
// share them: the second would kill the first's runs.
func (t *cgroupTree) lockV1() error {
	seen := map[[2]uint64]bool{}
	index := map[[2]uint64]int{}
	t.v1Index = map[cgroup1.Name]int{}
	for _, n := range v1Controllers {
		rel, err := t.v1Parent(n)
		if errors.Is(err, cgroup1.ErrControllerNotActive) {
			continue // a controller this host lacks, as v1Hierarchy skips it
		}
		if err != nil {
			t.unlock()
			return fmt.Errorf("finding the %s cgroup: %w", n, err)
		}
		dir := filepath.Join(cgroupRoot, string(n), rel)
		f, id, err := lockDir(dir, true, seen)
		if err != nil {
			t.unlock()
			return err
		}
		if f == nil {
			t.v1Index[n] = index[id] // cpu and cpuacct are often one hierarchy
			continue
		}
		seen[id] = true
		index[id], t.v1Index[n] = len(t.locks), len(t.locks)
		t.locks = append(t.locks, f)
		t.v1Owned = append(t.v1Owned, dir)
	}
	return nil
}

// restrictDevices gives the device cgroup <own>/<parent> the sandbox's
// device rules (deviceRules) and sets sharedDevices, where the device
// controller has a hierarchy of its own (the usual layout). It is called
// after removeStale: the kernel refuses "deny all" to a cgroup with child
// cgroups, which only runs of an earlier atod leave there. With children
// left all the same, a cgroup that refuses devices by default already gets
// its exceptions set one by one; one that allows every device stays so, and
// each run gets a device cgroup of its own, as before.
func (t *cgroupTree) restrictDevices() error {
	i, ok := t.v1Index[cgroup1.Devices]
	if !ok {
		return nil // no device controller: nothing to restrict with
	}
	for n, j := range t.v1Index {
		if n != cgroup1.Devices && j == i {
			return nil // devices shares a hierarchy with n
		}
	}
	dir := t.v1Owned[i]
	failed := func(err error) error { return fmt.Errorf("restricting the devices of cgroup %s: %w", dir, err) }
	want := deviceList()
	got, err := os.ReadFile(filepath.Join(dir, "devices.list"))
	if err != nil {
		return failed(err)
	}
	if string(got) == want {
		t.sharedDevices = true
		return nil
	}
	writes := deviceWrites() // refuse every device, then allow the sandbox's
	err = writeCgroupFile(t.locks[i], writes[0].file, writes[0].value)
	// A child cgroup removed a moment ago (removeStale's) stays online
	// until the kernel's asynchronous offlining, some 20 ms here, and
	// counts as a child meanwhile.
	for deadline := time.Now().Add(childOfflineWait); errors.Is(err, unix.EINVAL) && !hasChildDirs(dir) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		err = writeCgroupFile(t.locks[i], writes[0].file, writes[0].value)
	}
	if err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return failed(err)
		}
		if strings.HasPrefix(string(got), "a ") {
			t.log.Info("runs get device cgroups of their own: the device cgroup they would share allows every device and has child cgroups (an earlier atod's runs left them)", "cgroup", dir)
			return nil
		}
		// Refusing by default already: what it allows beyond the
		// sandbox's devices is taken back.
		for line := range strings.Lines(string(got)) {
			if line = strings.TrimSpace(line); line != "" && !slices.Contains(strings.Split(want, "\n"), line) {
				if err := writeCgroupFile(t.locks[i], "devices.deny", line); err != nil {
					return failed(err)
				}
			}
		}
	}
	for _, w := range writes[1:] {
		if err := writeCgroupFile(t.locks[i], w.file, w.value); err != nil {
			return failed(err)
		}
	}
	if got, err = os.ReadFile(filepath.Join(dir, "devices.list")); err != nil {
		return failed(err)
	}
	if string(got) != want {
		return failed(fmt.Errorf("its devices.list reads %q after the rules were written, want %q", got, want))
	}
	t.sharedDevices = true
	return nil
}

// childOfflineWait bounds restrictDevices' wait for removed child cgroups
// to go offline.
const childOfflineWait = time.Second

// hasChildDirs reports whether the cgroup directory dir has child cgroups
// (or cannot be read).
func hasChildDirs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	return slices.ContainsFunc(entries, fs.DirEntry.IsDir)
}

// deviceList is devices.list of a v1 device cgroup with deviceRules.
func deviceList() string {
	var b strings.Builder
	for _, w := range deviceWrites()[1:] {
		b.WriteString(w.value + "\n")
	}
	return b.String()
}

// lockDir takes an exclusive flock on dir, which it first creates when
// create is set (cgroup v1's parents; cgroup v2's delegated cgroup must
// exist already), unless dir is one of seen (then it returns nil). A daemon that is exiting holds its lock a
// moment longer than its parent process lives (the serving copy dies by its
// parent-death signal), so a held lock is retried for lockWait before it
// is refused; and a lock taken on a directory that a daemon shutting down
// removed meanwhile is taken again on the new one.
func lockDir(dir string, create bool, seen map[[2]uint64]bool) (*os.File, [2]uint64, error) {
	deadline := time.Now().Add(lockWait)
	for {
		if create {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, [2]uint64{}, fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
		}
		f, err := os.Open(dir)
		if err != nil {
			return nil, [2]uint64{}, fmt.Errorf("opening cgroup %s: %w", dir, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			return nil, [2]uint64{}, fmt.Errorf("reading cgroup %s: %w", dir, err)
		}
		id := [2]uint64{st.Dev, st.Ino}
		if seen[id] {
			f.Close()
			return nil, id, nil
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) && time.Now().Before(deadline) {
			f.Close()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			if !create { // cgroup v2: the delegated cgroup itself
				return nil, id, fmt.Errorf("cgroup %s %w: give each daemon a delegated cgroup of its own (systemd: a unit of its own with Delegate=yes)", dir, ErrInUse)
			}
			return nil, id, fmt.Errorf("cgroup %s %w: give each daemon a --cgroup-name of its own", dir, ErrInUse)
		}
		if err != nil {
			f.Close()
			return nil, id, fmt.Errorf("locking cgroup %s: %w", dir, err)
		}
		var now unix.Stat_t
		if err := unix.Stat(dir, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
			f.Close() // removed (and perhaps made again) while we locked it
			if !create || time.Now().After(deadline) {
				return nil, id, fmt.Errorf("locking cgroup %s: it was removed meanwhile", dir)
			}
			continue
		}
		return f, id, nil
	}
}

// lockWait is how long a daemon waits for another to let go of its cgroup
// parent before it refuses to start.
const lockWait = 5 * time.Second

func (t *cgroupTree) unlock() {
	for _, f := range t.locks {
		f.Close()
	}
	t.locks = nil
}

// delegateV2 moves the daemon into <own>/supervisor and enables the memory,
// pids and cpu controllers for the job cgroups beside it.
func (t *cgroupTree) delegateV2(ownRoot bool) error {
	base := "/" // the delegated cgroup, as the daemon sees it
	if !ownRoot {
		own, err := ownCgroups()
		if err != nil {
			return err
		}
		base = delegatedBase(own[""])
		if base == "/" || base == "" {
			return errors.New("preparing cgroups: atod runs in the root cgroup; run it in a delegated cgroup of its own (systemd: Delegate=yes)")
		}
	}
	t.v2Base = base
	// Job cgroups are found beside supervisor/ at startup and a dead
	// daemon's are killed (removeStale): two daemons in one delegated
	// cgroup would kill each other's runs.
	f, _, err := lockDir(filepath.Join(cgroupRoot, base), false, nil)
	if err != nil {
		return err
	}
	t.locks = append(t.locks, f)
	// containerd's NewManager and ToggleControllers write to the
	// subtree_control of every ancestor up to the root, cgroups atod does
	// not own; here only the delegated cgroup itself is written.
	supervisor := filepath.Join(cgroupRoot, base, supervisorLeaf)
	if err := os.Mkdir(supervisor, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating supervisor cgroup in %s: %w", base, err)
	}
	pids, err := readPids(filepath.Join(cgroupRoot, base, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("listing processes of %s: %w", base, err)
	}
	for _, pid := range pids {
		err := os.WriteFile(filepath.Join(supervisor, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("moving process %d into %s/%s: %w", pid, base, supervisorLeaf, err)
		}
	}
	control := filepath.Join(cgroupRoot, base, "cgroup.subtree_control")
	if err := os.WriteFile(control, []byte("+memory +pids +cpu"), 0); err != nil {
		return fmt.Errorf("enabling the memory, pids and cpu controllers in %s (is the cgroup delegated, and are they enabled above it?): %w", base, err)
	}
	return nil
}

// jobPrefix starts the name of every job cgroup, so startup can tell them
// from anything else an operator put beside them.
const jobPrefix = "atod-"

// v2Path is the cgroup v2 path of job id.
func (t *cgroupTree) v2Path(id string) string { return filepath.Join(t.v2Base, id) }

// create makes the job cgroup for id with the limits l, in a device cgroup
// that allows the sandbox's devices alone (deviceRules): on v1 the tree's
// shared one where it has it (restrictDevices), else the job's own; none
// rootless, where loading its eBPF program takes privilege: the user
// namespace keeps such runs from creating device nodes, and /dev holds only
// those bound from the host.
func (t *cgroupTree) create(id string, l job.Limits, rootless bool) (*jobCgroup, error) {
	if t.mode == cgroups.Unified {
		quota := int64(l.CPUs * cpuPeriodUs)
		period := uint64(cpuPeriodUs)
		// Created by hand rather than with cgroup2.NewManager, which would
		// write to every ancestor's subtree_control (see delegateV2).
		group := t.v2Path(id)
		if err := os.Mkdir(filepath.Join(cgroupRoot, group), 0o755); err != nil {
			return nil, fmt.Errorf("creating job cgroup %s: %w", id, err)
		}
		m, err := cgroup2.Load(group)
		if err == nil {
			zero := int64(0)
			res := &cgroup2.Resources{
				Memory: &cgroup2.Memory{Max: &l.MemoryBytes, Swap: &zero},
				Pids:   &cgroup2.Pids{Max: l.Pids},
				CPU:    &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)},
			}
			if !rootless {
				res.Devices = deviceRules()
			}
			err = m.Update(res)
		}
		if err != nil {
			os.Remove(filepath.Join(cgroupRoot, group))
			return nil, fmt.Errorf("setting limits of job cgroup %s: %w", id, err)
		}
		dir := filepath.Join(cgroupRoot, group)
		return &jobCgroup{v2: m, memoryDir: dir, cpuDir: dir}, nil
	}
	// cgroup v1: made here rather than with cgroup1.New, which writes each
	// file through its whole path below /sys/fs/cgroup, makes cpu and
	// cpuacct's directory twice, and whose AddProc writes the process into
	// that directory twice as well: a third of the daemon's CPU time in a
	// run of trivial runs (issue 13). Here each hierarchy's directory is
	// made and opened once, relative to the parent atod holds open, and
	// its files are written through it.
	j := &jobCgroup{v1: &v1Job{cgroup: sync.OnceValues(func() (cgroup1.Cgroup, error) {
		return cgroup1.Load(t.v1Path(id), cgroup1.WithHierarchy(t.hierarchy))
	})}, v1Dirs: t.v1Dirs(id)}
	failed := func(err error) (*jobCgroup, error) {
		j.v1.closeDirs()
		if j.memWatch != nil {
			j.memWatch.Close()
		}
		return nil, errors.Join(fmt.Errorf("creating job cgroup %s: %w", id, err), t.removeV1(id))
	}
	for i, parent := range t.locks {
		if t.sharedDevices && i == t.v1Index[cgroup1.Devices] {
			j.v1.sharedDevices = parent
			j.v1.dirs = append(j.v1.dirs, nil)
			continue
		}
		dir, err := mkdirOpen(parent, t.v1Owned[i], id)
		if err != nil {
			return failed(err)
		}
		j.v1.dirs = append(j.v1.dirs, dir)
	}
	for _, w := range t.v1Limits(l) {
		i, ok := t.v1Index[w.controller]
		if !ok || j.v1.dirs[i] == nil {
			continue // a controller this host lacks, or the shared device cgroup
		}
		if err := writeCgroupFile(j.v1.dirs[i], w.file, w.value); err != nil {
			return failed(fmt.Errorf("setting limits: %w", err))
		}
	}
	for _, d := range []struct {
		n   cgroup1.Name
		dir *string
	}{{cgroup1.Memory, &j.memoryDir}, {cgroup1.Cpu, &j.cpuDir}, {cgroup1.Cpuacct, &j.cpuacctDir}} {
		p, err := t.v1Path(id)(d.n)
		if err != nil && d.n == cgroup1.Cpuacct {
			continue // only a run with a CPU time limit needs it (cpuUsage)
		}
		if err != nil {
			return failed(fmt.Errorf("finding job cgroup %s: %w", id, err))
		}
		*d.dir = filepath.Join(cgroupRoot, string(d.n), p)
	}
	if t.hybrid != "" {
		// The run's cgroup in the cgroup2 mount: for cgroup.kill alone
		// (it has no controllers).
		j.unified = filepath.Join(t.hybrid, id)
		if err := os.Mkdir(j.unified, 0o755); err != nil {
			return failed(err)
		}
	}
	if t.hasTCP {
		usage := filepath.Join(j.memoryDir, "memory.kmem.tcp.usage_in_bytes")
		// Opened now, so that a run is never started unwatched (at the
		// descriptor limit, say): this fails its creation instead.
		var err error
		if j.memWatch, err = os.Open(usage); err != nil {
			return failed(err)
		}
		// The TCP limit is half the memory limit; past it, a quarter
		// more for the forced charges of a program with many
		// connections: the overshoot of the kill (memPoll's worth)
		// stays within the memory limit's.
		j.memCeiling = uint64(l.MemoryBytes) / 4 * 3
	}
	return j, nil
}

// cgroupWrite is a value to write to a file of a job cgroup.
type cgroupWrite struct {
	controller  cgroup1.Name
	file, value string
}

// v1Limits are what a v1 job cgroup's files are given for the limits l, in
// the order they are written: memory+swap after memory, which it may not be
// below; the device rules refuse every device, then allow the sandbox's
// (deviceRules).
func (t *cgroupTree) v1Limits(l job.Limits) []cgroupWrite {
	quota := int64(l.CPUs * cpuPeriodUs)
	w := []cgroupWrite{{cgroup1.Memory, "memory.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10)}}
	if t.hasMemsw { // memory+swap equal to memory: no swap
		w = append(w, cgroupWrite{cgroup1.Memory, "memory.memsw.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10)})
	}
	// cgroup v1 counts socket buffers apart from memory.limit_in_bytes,
	// and not at all without a limit of their own: one run pinned 641 MiB
	// of the host in unread loopback buffers (issue 10). They get half the
	// run's memory limit, and watchMemory kills a run whose buffers the
	// kernel forced past it.
	if t.hasTCP { // kernels without kmem accounting have no such limit
		w = append(w, cgroupWrite{cgroup1.Memory, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(l.MemoryBytes/2, 10)})
	}
	if l.Pids > 0 {
		w = append(w, cgroupWrite{cgroup1.Pids, "pids.max", strconv.FormatInt(l.Pids, 10)})
	}
	w = append(w,
		cgroupWrite{cgroup1.Cpu, "cpu.cfs_period_us", strconv.Itoa(cpuPeriodUs)},
		cgroupWrite{cgroup1.Cpu, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)})
	if !t.sharedDevices {
		w = append(w, deviceWrites()...)
	}
	return w
}

// deviceWrites are deviceRules as a v1 device cgroup takes them: the first
// refuses every device, the others allow the sandbox's.
func deviceWrites() []cgroupWrite {
	var w []cgroupWrite
	for _, d := range deviceRules() {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		w = append(w, cgroupWrite{cgroup1.Devices, file, deviceLine(d)})
	}
	return w
}

// deviceLine is rule as a v1 device cgroup's devices.allow and
// devices.deny read it: "c 1:3 rwm", "*" for every major or minor.
func deviceLine(rule specs.LinuxDeviceCgroup) string {
	number := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", rule.Type, number(rule.Major), number(rule.Minor), rule.Access)
}

// mkdirOpen makes the directory name in parent (whose path is parentPath)
// and opens it.
func mkdirOpen(parent *os.File, parentPath, name string) (*os.File, error) {
	path := filepath.Join(parentPath, name)
	if err := ignoringEINTR(func() error { return unix.Mkdirat(int(parent.Fd()), name, 0o755) }); err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// writeCgroupFile writes value to the file name of the cgroup directory dir,
// in one write, as the kernel reads it.
func writeCgroupFile(dir *os.File, name, value string) error {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("opening %s: %w", filepath.Join(dir.Name(), name), err)
	}
	defer unix.Close(fd)
	var n int
	if err := ignoringEINTR(func() (err error) { n, err = unix.Write(fd, []byte(value)); return err }); err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, filepath.Join(dir.Name(), name), err)
	}
	if n != len(value) {
		return fmt.Errorf("writing %q to %s: %d bytes written", value, filepath.Join(dir.Name(), name), n)
	}
	return nil
}

// ignoringEINTR calls f until it returns anything but EINTR, which a signal
// to the daemon's thread (the Go runtime's own, say) can make a system call
// return.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// v1Path is the v1 job cgroup of id in every hierarchy: what
// cgroup1.NestedPath(<parent>/<id>) gives, without reading
// /proc/self/cgroup and the mount table again for every run.
func (t *cgroupTree) v1Path(id string) cgroup1.Path {
	return func(n cgroup1.Name) (string, error) {
		p, err := t.v1Parent(n)
		if err != nil {
			return "", err
		}
		return filepath.Join(p, id), nil
	}
}

// v1Dirs are the directories of the v1 job cgroup of id, as create makes
// them (t.v1Path in each of t.v1Subsystems), those in the hierarchies
// staleIDs looks in last, so that a daemon killed while it removes them
// leaves the run findable. cpu and cpuacct may be one directory: its
// second rmdir finds nothing.
func (t *cgroupTree) v1Dirs(id string) []string {
	var dirs, owned []string
	for _, s := range t.v1Subsystems {
		if t.sharedDevices && s.Name() == cgroup1.Devices {
			continue // the run joined the tree's own device cgroup
		}
		p, err := t.v1Path(id)(s.Name())
		if err != nil {
			continue // not active: nothing made there
		}
		d := filepath.Join(cgroupRoot, string(s.Name()), p)
		if slices.Contains(t.v1Owned, filepath.Dir(d)) {
			owned = append(owned, d)
		} else {
			dirs = append(dirs, d)
		}
	}
	return append(dirs, owned...)
}

// hierarchy is t.v1Subsystems, as cgroup1.WithHierarchy asks.
func (t *cgroupTree) hierarchy() ([]cgroup1.Subsystem, error) { return t.v1Subsystems, nil }

func v1Hierarchy() ([]cgroup1.Subsystem, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, err
	}
	var keep []cgroup1.Subsystem
	for _, s := range all {
		if slices.Contains(v1Controllers, s.Name()) {
			keep = append(keep, s)
		}
	}
	return keep, nil
}

// removeStale kills and removes job cgroups left behind by an earlier
// daemon that died without cleaning up. It touches only cgroups named like
// atod's own job cgroups inside the daemon's own tree.
func (t *cgroupTree) removeStale() error {
	var errs []error
	for _, id := range t.staleIDs() {
		j := &jobCgroup{}
		if t.mode == cgroups.Unified {
			m, err := cgroup2.Load(t.v2Path(id))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			j.v2 = m
		} else {
			cg, err := cgroup1.Load(t.v1Path(id), cgroup1.WithHierarchy(t.hierarchy))
			if err == nil {
				j.v1 = &v1Job{cgroup: func() (cgroup1.Cgroup, error) { return cg, nil }}
			} else if !errors.Is(err, cgroup1.ErrCgroupDeleted) {
				errs = append(errs, fmt.Errorf("loading stale job cgroup %s: %w", id, err))
			}
			if t.hybrid != "" {
				j.unified = filepath.Join(t.hybrid, id)
			}
		}
		if err := j.killAndWait(); err != nil {
			errs = append(errs, err)
			continue
		}
		if t.mode == cgroups.Unified {
			if err := j.delete(); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		// The run's cgroups in the hybrid layout's cgroup2 mount, and
		// those an earlier atod made in every other v1 hierarchy (it
		// started runs through libcontainer, which joins them all),
		// go too: the run's processes are gone now. removeV1 takes
		// them all, the hierarchies staleIDs looks in last, so that a
		// daemon killed meanwhile leaves the run findable. One that
		// cannot be removed (a process that does not die) is reported,
		// not fatal: new runs never reuse a name.
		if err := t.removeV1(id); err != nil {
			t.log.Warn("cannot remove a stale job cgroup", "id", id, "err", err)
		}
	}
	return errors.Join(errs...)
}

// staleIDs lists job cgroup names found in atod's part of the tree: on v1,
// the parents it holds locked (lockV1), where every run has its job cgroup
// before it is started; in a hierarchy it does not lock, another daemon's
// runs may be.
func (t *cgroupTree) staleIDs() []string {
	dirs := t.v1Owned
	if t.mode == cgroups.Unified {
		dirs = []string{filepath.Join(cgroupRoot, t.v2Base)}
	}
	var ids []string
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), jobPrefix) && !slices.Contains(ids, e.Name()) {
				ids = append(ids, e.Name())
			}
		}
	}
	return ids
}

// removeV1 removes the job cgroup of id, which must hold no process, from
// every v1 hierarchy (and the hybrid layout's cgroup2 mount) it is in.
func (t *cgroupTree) removeV1(id string) error {
	dirs, err := t.v1ParentDirs()
	errs := []error{err}
	// The hierarchies that staleIDs looks in go last, so that a daemon
	// killed meanwhile leaves the run findable for the next.
	slices.SortStableFunc(dirs, func(a, b string) int {
		ai, bi := slices.Contains(t.v1Owned, a), slices.Contains(t.v1Owned, b)
		switch {
		case ai == bi:
			return 0
		case ai:
			return 1
		}
		return -1
	})
	for _, d := range dirs {
		if err := os.Remove(filepath.Join(d, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing job cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// v1ParentDirs are the directories <own>/<parent> that job cgroups are
// created in on cgroup v1 and the hybrid layout, in every hierarchy the
// daemon is in (atod before issue 13 joined a run to all of them).
func (t *cgroupTree) v1ParentDirs() ([]string, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for ctrl, p := range own {
		var mount string
		switch {
		case ctrl == "":
			if t.hybrid == "" {
				continue
			}
			mount = unifiedHybrid
		case strings.HasPrefix(ctrl, "name="):
			mount = filepath.Join(cgroupRoot, strings.TrimPrefix(ctrl, "name="))
		default:
			mount = filepath.Join(cgroupRoot, ctrl)
		}
		if d := filepath.Join(mount, p, t.parent); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// jobCgroup is the cgroup of one run.
type jobCgroup struct {
	v1      *v1Job
	v2      *cgroup2.Manager
	unified string // hybrid: the run's cgroup in the cgroup2 mount, which has cgroup.kill
	// v1Dirs are the v1 cgroup's directories, those in the hierarchies
	// staleIDs looks in last (cgroupTree.v1Dirs), which delete removes
	// with one rmdir each. cgroup1's Delete first reads every
	// hierarchy's cgroup.procs to refuse a cgroup that still has
	// processes, which rmdir refuses by itself: that was 5 % of the
	// machine's CPU in a run of trivial runs (issue 13), and the run's
	// processes are gone by then.
	v1Dirs []string

	// The directories endStats reads: the job's memory and cpu cgroups
	// (one directory on v2); empty in a cgroup loaded to be removed.
	memoryDir, cpuDir string
	// cpuacctDir holds cpuacct.usage on v1 (what watchCPU reads).
	cpuacctDir string

	// What watchMemory reads: on v1 with TCP accounting
	// memory.kmem.tcp.usage_in_bytes (nil: nothing), and the usage past
	// which the run is out of memory.
	memWatch   *os.File
	memCeiling uint64
}

// v1Job is a job cgroup on cgroup v1 (and the hybrid layout's v1 side).
type v1Job struct {
	// dirs are its directories, one for each of the tree's locks, open:
	// join writes the run's init into them; nil for the device hierarchy
	// where runs share the tree's device cgroup, sharedDevices. None in a
	// cgroup loaded to be removed.
	dirs          []*os.File
	sharedDevices *os.File
	// cgroup is containerd's handle of it, made when first needed: for
	// the freezer, process lists and full statistics, none of them on a
	// run's usual way.
	cgroup func() (cgroup1.Cgroup, error)
}

func (v *v1Job) closeDirs() {
	for _, d := range v.dirs {
		if d != nil {
			d.Close()
		}
	}
	v.dirs, v.sharedDevices = nil, nil
}

// loaded is v.cgroup(), and nil with no error for a cgroup already gone.
func (v *v1Job) loaded() (cgroup1.Cgroup, error) {
	cg, err := v.cgroup()
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading job cgroup: %w", err)
	}
	return cg, nil
}

// How often watchMemory reads a run's usage. The kernel's forced charges
// (one buffer per new connection and direction, past any limit) grow at
// the rate a run opens connections, about 2.7 GB/s on one CPU of the
// two-core VM: from below the TCP limit to 200 MiB in the 50 ms an earlier
// "calm" interval allowed (under 128 MiB of memory). Every 5 ms the
// overshoot stays near 15 MiB; a reading costs a pread.
const memPoll = 5 * time.Millisecond

// watchMemory closes the returned channel when the run's socket buffers
// pass their ceiling, and stops at done. cgroup v1 charges socket buffers
// apart from memory, to memory.kmem.tcp.usage_in_bytes, and TCP
// force-charges a first buffer per connection and direction past its limit
// (__sk_mem_raise_allocated): 6 processes pinned 188 MiB in a run limited
// to 128 MiB, and with processes enough a run could reach the host's
// net.ipv4.tcp_mem (issue 10). The kernel gives no event for that counter
// (cgroup.event_control watches memory usage only), so it is read; past
// the ceiling the run is killed as out of memory. (cgroup v2 charges
// socket buffers to memory.current, under memory.max, and needs no watch.)
func (j *jobCgroup) watchMemory(done <-chan struct{}, log *slog.Logger) <-chan struct{} {
	if j.memWatch == nil {
		return nil
	}
	f := j.memWatch
	over := make(chan struct{})
	go func() {
		ticker := time.NewTicker(memPoll)
		defer ticker.Stop()
		buf := make([]byte, 32)
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			n, err := f.ReadAt(buf, 0)
			if err != nil && !errors.Is(err, io.EOF) {
				return // the cgroup is going away
			}
			usage, err := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
			if err != nil {
				return
			}
			if usage > j.memCeiling {
				log.Warn("a run's socket buffers passed their ceiling: killing it as out of memory", "usage", usage, "ceiling", j.memCeiling)
				close(over)
				return
			}
		}
	}()
	return over
}

// cpuPollMin and cpuPollMax bound how long watchCPU waits between two
// readings: until the earliest the run could pass its limit at its CPU
// quota, at most cpuPollMax (a reading is a small read of one file), and
// at least cpuPollMin, by which the kill may come late (times the run's
// CPUs).
const (
	cpuPollMin = 5 * time.Millisecond
	cpuPollMax = 100 * time.Millisecond
)

// cpuUsage is the CPU time the run's processes have used, all together:
// cpu.stat's usage_usec on v2, cpuacct.usage on v1.
func (j *jobCgroup) cpuUsage() (time.Duration, error) {
	if j.v2 != nil {
		stat, err := readFlatKeyed(filepath.Join(j.cpuDir, "cpu.stat"))
		if err != nil {
			return 0, err
		}
		usec, ok := stat["usage_usec"]
		if !ok {
			return 0, errors.New("reading the run's CPU time: cpu.stat has no usage_usec")
		}
		return time.Duration(usec) * time.Microsecond, nil
	}
	if j.cpuacctDir == "" {
		return 0, errors.New("reading the run's CPU time: this host mounts no cpuacct hierarchy")
	}
	b, err := os.ReadFile(filepath.Join(j.cpuacctDir, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("reading the run's CPU time: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading the run's CPU time: %w", err)
	}
	return time.Duration(ns), nil
}

// watchCPU sends on the returned channel when the run's CPU time passes
// limit: nil, or the error that keeps it from reading it (the run may not
// go on unwatched); it stops at done, and is nil when limit is 0. The time
// is counted from the call, made just before the run's job is handed over,
// so that the sandbox's own setup, charged to the cgroup too, is not the
// run's. cpus is the run's CPU quota: no run uses CPU time faster. The
// kernel has no CPU time limit for a group of processes (RLIMIT_CPU is each
// process's own, which a fork starts anew), so the group's usage is read.
// A run whose usage cannot be read at the start is refused (err).
func (j *jobCgroup) watchCPU(limit time.Duration, cpus float64, done <-chan struct{}) (<-chan error, error) {
	if limit <= 0 {
		return nil, nil
	}
	base, err := j.cpuUsage()
	if err != nil {
		return nil, err
	}
	if cpus <= 0 {
		cpus = 1
	}
	// until is how long the run needs at least, at its quota, to pass
	// the limit.
	until := func(used time.Duration) time.Duration {
		return min(max(time.Duration(float64(limit-used)/cpus), cpuPollMin), cpuPollMax)
	}
	over := make(chan error, 1)
	go func() {
		timer := time.NewTimer(until(0))
		defer timer.Stop()
		for {
			select {
			case <-done:
				return
			case <-timer.C:
			}
			usage, err := j.cpuUsage()
			if err != nil {
				select {
				case <-done: // the cgroup went with the run
				default:
					over <- err
				}
				return
			}
			used := usage - base
			if used >= limit {
				over <- nil
				return
			}
			timer.Reset(until(used))
		}
	}()
	return over, nil
}

// join puts process pid in the job cgroup, in every hierarchy it has.
func (j *jobCgroup) join(pid int) error {
	var err error
	switch {
	case j.v2 != nil:
		err = j.v2.AddProc(uint64(pid))
	case j.v1 != nil && j.v1.dirs == nil:
		err = errors.New("its directories are closed (joined)")
	case j.v1 != nil:
		for _, d := range j.v1.dirs {
			if d != nil && err == nil {
				err = writeCgroupFile(d, "cgroup.procs", strconv.Itoa(pid))
			}
		}
		if err == nil && j.v1.sharedDevices != nil {
			err = writeCgroupFile(j.v1.sharedDevices, "cgroup.procs", strconv.Itoa(pid))
		}
		if err == nil && j.unified != "" {
			err = os.WriteFile(filepath.Join(j.unified, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
		}
	}
	if err != nil {
		return fmt.Errorf("joining job cgroup: %w", err)
	}
	return nil
}

// joined closes the directories join writes through, once the last process
// to join has joined.
func (j *jobCgroup) joined() {
	if j.v1 != nil {
		j.v1.closeDirs()
	}
}

// kill sends SIGKILL to every process of the run, atomically with respect to
// forks: cgroup.kill where the kernel has it, freeze + kill + thaw otherwise.
func (j *jobCgroup) kill() error {
	switch {
	case j.v2 != nil:
		if err := j.v2.Kill(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("killing job cgroup: %w", err)
		}
		return nil
	case j.unified != "":
		err := os.WriteFile(filepath.Join(j.unified, "cgroup.kill"), []byte("1"), 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && j.v1 == nil {
			return fmt.Errorf("killing job cgroup: %w", err)
		}
	}
	if j.v1 == nil {
		return nil
	}
	cg, err := j.v1.loaded()
	if err != nil || cg == nil {
		return err
	}
	if err := cg.Freeze(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("freezing job cgroup: %w", err)
	}
	procs, err := cg.Processes(cgroup1.Freezer, true)
	if err == nil {
		for _, p := range procs {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
	}
	if terr := cg.Thaw(); terr != nil && !errors.Is(terr, fs.ErrNotExist) {
		return fmt.Errorf("thawing job cgroup: %w", terr)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing job processes: %w", err)
	}
	return nil
}

// pids lists the processes still in the job cgroup.
func (j *jobCgroup) pids() ([]int, error) {
	if j.v2 != nil {
		ps, err := j.v2.Procs(true)
		out := make([]int, len(ps))
		for i, p := range ps {
			out[i] = int(p)
		}
		return out, err
	}
	if j.v1 == nil {
		return nil, nil
	}
	cg, err := j.v1.loaded()
	if err != nil || cg == nil {
		return nil, err
	}
	ps, err := cg.Processes(cgroup1.Pids, true)
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.Pid
	}
	return out, err
}

// killAndWait kills the run's processes and waits until the cgroup is empty,
// repeating the kill in case a process slipped in between. An empty cgroup
// (the usual case after a normal end, when init has killed and reaped
// everything) costs one read.
func (j *jobCgroup) killAndWait() error {
	deadline := time.Now().Add(emptyTimeout)
	for {
		pids, err := j.pids()
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(pids) == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing job processes: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("killing job cgroup: %d processes still there after %v", len(pids), emptyTimeout)
		}
		if err := j.kill(); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (j *jobCgroup) stats() (cgroupStats, error) {
	var s cgroupStats
	switch {
	case j.v2 != nil:
		m, err := j.v2.Stat()
		if err != nil {
			return s, fmt.Errorf("reading job cgroup statistics: %w", err)
		}
		if c := m.GetCPU(); c != nil {
			s.User = time.Duration(c.UserUsec) * time.Microsecond
			s.Kernel = time.Duration(c.SystemUsec) * time.Microsecond
			s.ThrottledPeriods = int64(c.NrThrottled)
			s.ThrottledTime = time.Duration(c.ThrottledUsec) * time.Microsecond
		}
		if mem := m.GetMemory(); mem != nil {
			s.MemoryPeak = int64(mem.MaxUsage)
			s.MajorFaults = int64(mem.Pgmajfault)
			s.MinorFaults = int64(mem.Pgfault) - s.MajorFaults
		}
		if ev := m.GetMemoryEvents(); ev != nil {
			s.OOMKills = int64(ev.OomKill)
		}
	case j.v1 != nil:
		cg, err := j.v1.loaded()
		if err != nil {
			return s, fmt.Errorf("reading job cgroup statistics: %w", err)
		}
		if cg == nil {
			return s, fmt.Errorf("reading job cgroup statistics: %w", cgroup1.ErrCgroupDeleted)
		}
		m, err := cg.Stat(cgroup1.IgnoreNotExist)
		if err != nil {
			return s, fmt.Errorf("reading job cgroup statistics: %w", err)
		}
		if c := m.GetCPU(); c != nil {
			s.User = time.Duration(c.GetUsage().GetUser())
			s.Kernel = time.Duration(c.GetUsage().GetKernel())
			s.ThrottledPeriods = int64(c.GetThrottling().GetThrottledPeriods())
			s.ThrottledTime = time.Duration(c.GetThrottling().GetThrottledTime())
		}
		if mem := m.GetMemory(); mem != nil {
			s.MemoryPeak = int64(mem.GetUsage().GetMax())
			s.MajorFaults = int64(mem.GetTotalPgMajFault())
			s.MinorFaults = int64(mem.GetTotalPgFault()) - s.MajorFaults
		}
		s.OOMKills = int64(m.GetMemoryOomControl().GetOomKill())
	}
	return s, nil
}

// endStats reads the statistics of a run that init's report leaves out:
// its memory peak, OOM kills and CPU throttling. It reads the three files
// that hold them, where stats reads every statistic of every controller
// (some twenty files on v1: 0.7 ms of a trivial run's round trip on the
// two-core machine of issue 13). A kernel without one of them (memory.peak
// came in Linux 5.19) gets stats instead.
func (j *jobCgroup) endStats() (cgroupStats, error) {
	if j.memoryDir == "" {
		return j.stats()
	}
	peakFile, eventsFile, oomKey, throttledKey, throttledUnit := "memory.max_usage_in_bytes", "memory.oom_control", "oom_kill", "throttled_time", time.Nanosecond
	if j.v2 != nil {
		peakFile, eventsFile, throttledKey, throttledUnit = "memory.peak", "memory.events", "throttled_usec", time.Microsecond
	}
	var s cgroupStats
	peak, err := os.ReadFile(filepath.Join(j.memoryDir, peakFile))
	if errors.Is(err, fs.ErrNotExist) {
		return j.stats()
	}
	if err == nil {
		s.MemoryPeak, err = strconv.ParseInt(strings.TrimSpace(string(peak)), 10, 64)
	}
	if err != nil {
		return s, fmt.Errorf("reading job cgroup statistics: %w", err)
	}
	events, err := readFlatKeyed(filepath.Join(j.memoryDir, eventsFile))
	if err != nil {
		return s, err
	}
	cpu, err := readFlatKeyed(filepath.Join(j.cpuDir, "cpu.stat"))
	if err != nil {
		return s, err
	}
	s.OOMKills = events[oomKey]
	s.ThrottledPeriods = cpu["nr_throttled"]
	s.ThrottledTime = time.Duration(cpu[throttledKey]) * throttledUnit
	return s, nil
}

// readFlatKeyed reads a cgroup file of "key value" lines.
func readFlatKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading job cgroup statistics: %w", err)
	}
	m := make(map[string]int64)
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading job cgroup statistics: %s: %q: %w", path, line, err)
		}
		m[k] = n
	}
	return m, nil
}

// delete removes the job cgroup; it must be empty. A cgroup already gone is
// fine.
func (j *jobCgroup) delete() error {
	var errs []error
	if j.memWatch != nil {
		j.memWatch.Close()
	}
	if j.v1 != nil {
		j.v1.closeDirs()
	}
	// The hybrid layout's cgroup2 directory first: a daemon killed
	// meanwhile finds the run by its v1 cgroups (staleIDs) and removes
	// both.
	if j.unified != "" {
		if err := removeCgroupDir(j.unified); err != nil {
			errs = append(errs, fmt.Errorf("removing job cgroup: %w", err))
		}
	}
	if j.v2 != nil {
		if err := j.v2.Delete(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing job cgroup: %w", err))
		}
	}
	for _, d := range j.v1Dirs {
		if err := removeCgroupDir(d); err != nil {
			errs = append(errs, fmt.Errorf("removing job cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// rmdirBusyFor bounds removeCgroupDir's retries of a busy cgroup.
const rmdirBusyFor = 100 * time.Millisecond

// removeCgroupDir removes cgroup directory d, already gone or not. A cgroup
// whose last task was reaped may stay populated a moment longer on some
// kernels (the task leaves its cgroup after its last switch), and rmdir
// says EBUSY meanwhile: it is tried again for rmdirBusyFor.
func removeCgroupDir(d string) error {
	deadline := time.Now().Add(rmdirBusyFor)
	for {
		// rmdir, not os.Remove: that tries unlink first, which walks
		// the path only to fail on a directory.
		err := ignoringEINTR(func() error { return unix.Rmdir(d) })
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return &fs.PathError{Op: "rmdir", Path: d, Err: err}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ownCgroups parses /proc/self/cgroup: controller (or "name=x", or "" for
// the cgroup2 hierarchy) to path.
func ownCgroups() (map[string]string, error) { return cgroupsOf("self") }

// cgroupsOf parses /proc/<pid>/cgroup as ownCgroups does.
func cgroupsOf(pid string) (map[string]string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading the cgroups of process %s: %w", pid, err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// removeParents removes the v1 parent directory <own>/<parent> that job
// cgroups were created in, in every hierarchy (see v1ParentDirs), when it
// is empty. On cgroup v2 nothing is removed: the daemon itself lives
// in the supervisor leaf.
func (t *cgroupTree) removeParents() error {
	defer t.unlock()
	if t.mode == cgroups.Unified {
		return nil
	}
	dirs, err := t.v1ParentDirs()
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		// Runs join the device cgroup <own>/<parent> itself
		// (sharedDevices): its last one may be reaped a moment ago,
		// which removeCgroupDir waits for.
		if err := removeCgroupDir(dir); err != nil && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
