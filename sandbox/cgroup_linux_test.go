package sandbox

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
)

// startInCgroup starts n shells inside j; each forks two sleeping children
// once released (after it has been moved, so the children start inside).
func startInCgroup(t *testing.T, j *jobCgroup, n int) (cmds []*exec.Cmd, release func()) {
	t.Helper()
	var gates []io.WriteCloser
	for range n {
		cmd := exec.Command("sh", "-c", "read x; sleep 60 & sleep 60 & wait")
		gate, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if err := j.join(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		gates = append(gates, gate)
	}
	return cmds, func() {
		for _, g := range gates {
			g.Write([]byte("go\n"))
			g.Close()
		}
	}
}

// TestKillPaths kills a job cgroup's processes by every mechanism this host
// offers: cgroup.kill (v2, or the hybrid layout's cgroup2 mount) and freeze
// + kill (v1).
func TestKillPaths(t *testing.T) {
	atodtest.NeedRoot(t) // it creates cgroups
	tree, err := newCgroupTree("atod-unit-test-"+strconv.Itoa(os.Getpid()), false, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tree.removeParents()
	paths := []string{"default"}
	if tree.mode != cgroups.Unified {
		paths = append(paths, "freezer")
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			j, err := tree.create(newJobID(), job.DefaultLimits, false)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.killAndWait(); j.delete() })
			if path == "freezer" && j.unified != "" {
				// The pure v1 path; the cgroup2 directory, unused, is
				// removed apart.
				unified := j.unified
				j.unified = ""
				t.Cleanup(func() { os.Remove(unified) })
			}
			cmds, release := startInCgroup(t, j, 3)
			release()
			// Wait for the shells to fork: 3 shells and 6 sleeps.
			var pids []int
			for deadline := time.Now().Add(timescale.D(10 * time.Second)); ; time.Sleep(5 * time.Millisecond) {
				pids, err = j.pids()
				if err != nil || len(pids) >= 9 || time.Now().After(deadline) {
					break
				}
			}
			if err != nil || len(pids) != 9 {
				t.Fatalf("job cgroup holds %v (%v)", pids, err)
			}
			start := time.Now()
			if err := j.killAndWait(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: killed %d processes in %v", path, len(pids), time.Since(start))
			for _, c := range cmds {
				c.Wait()
			}
			if err := j.delete(); err != nil {
				t.Fatal(err)
			}
			if ids := tree.staleIDs(); len(ids) != 0 {
				t.Errorf("job cgroups remain: %v", ids)
			}
		})
	}
}

// TestEndStats checks the statistics a run's result takes from its cgroup
// after init's report (endStats) against those stats reads through
// containerd/cgroups, on a job cgroup whose processes were throttled, used
// memory and were killed for using too much.
func TestEndStats(t *testing.T) {
	atodtest.NeedRoot(t) // it creates cgroups
	tree, err := newCgroupTree("atod-unit-test-"+strconv.Itoa(os.Getpid()), false, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.removeParents() }) // after the job cgroup's removal
	l := job.DefaultLimits
	l.MemoryBytes, l.CPUs = 32<<20, 0.1
	j, err := tree.create(newJobID(), l, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.killAndWait(); j.delete() })
	// Busy for three of the cpu controller's periods at a tenth of a CPU:
	// throttled. A buffer of 8 MiB: the peak. One of 64 MiB: killed.
	cmd := exec.Command("sh", "-c", `read x; end=$(($(date +%s%N) + 300000000)); while [ $(date +%s%N) -lt $end ]; do :; done
dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; exit 0`)
	gate, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := j.join(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	gate.Write([]byte("go\n"))
	gate.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := j.endStats()
	if err != nil {
		t.Fatal(err)
	}
	want, err := j.stats()
	if err != nil {
		t.Fatal(err)
	}
	if got.MemoryPeak != want.MemoryPeak || got.OOMKills != want.OOMKills ||
		got.ThrottledPeriods != want.ThrottledPeriods || got.ThrottledTime != want.ThrottledTime {
		t.Errorf("endStats: peak %d, OOM kills %d, throttled %d periods for %v; stats: %d, %d, %d for %v",
			got.MemoryPeak, got.OOMKills, got.ThrottledPeriods, got.ThrottledTime,
			want.MemoryPeak, want.OOMKills, want.ThrottledPeriods, want.ThrottledTime)
	}
	if got.MemoryPeak < 8<<20 || got.OOMKills == 0 || got.ThrottledPeriods == 0 || got.ThrottledTime == 0 {
		t.Errorf("endStats: peak %d, OOM kills %d, throttled %d periods for %v; want a peak of 8 MiB or more, an OOM kill and throttling",
			got.MemoryPeak, got.OOMKills, got.ThrottledPeriods, got.ThrottledTime)
	}
}

// TestJobLimits reads back, in the cgroups a process that joined a job
// cgroup is in, the limits the job cgroup was made with: memory (and no
// swap), socket buffers, pids and CPU, and on cgroup v1 the device rules,
// both in the tree's shared device cgroup (restrictDevices) and in a device
// cgroup of the run's own.
func TestJobLimits(t *testing.T) {
	atodtest.NeedRoot(t) // it creates cgroups
	tree, err := newCgroupTree("atod-unit-test-"+strconv.Itoa(os.Getpid()), false, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.removeParents() }) // after the job cgroups' removal
	if err := tree.restrictDevices(); err != nil {
		t.Fatal(err)
	}
	l := job.DefaultLimits
	l.MemoryBytes, l.Pids, l.CPUs = 48<<20, 37, 0.5
	var want map[string]string
	if tree.mode == cgroups.Unified {
		want = map[string]string{"memory.max": "50331648", "memory.swap.max": "0", "pids.max": "37", "cpu.max": "50000 100000"}
	} else {
		want = map[string]string{"memory.limit_in_bytes": "50331648", "pids.max": "37",
			"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000", "devices.list": strings.TrimSpace(deviceList())}
		if tree.hasMemsw {
			want["memory.memsw.limit_in_bytes"] = "50331648"
		}
		if tree.hasTCP {
			want["memory.kmem.tcp.limit_in_bytes"] = "25165824"
		}
	}
	ways := []string{"shared devices"}
	if tree.mode != cgroups.Unified {
		ways = append(ways, "devices of its own")
	}
	for _, way := range ways {
		t.Run(way, func(t *testing.T) {
			if tree.mode != cgroups.Unified {
				if way == "shared devices" && !tree.sharedDevices {
					t.Skip("the device controller shares its hierarchy here: no shared device cgroup")
				}
				if way == "devices of its own" {
					// A parent that allows every device, so that the
					// job's own rules are what restricts it.
					tree.sharedDevices = false
					allowAllDevices(t, tree)
				}
			}
			j, err := tree.create(newJobID(), l, false)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.killAndWait(); j.delete() })
			cmds, _ := startInCgroup(t, j, 1)
			for file, value := range want {
				controller, _, _ := strings.Cut(file, ".")
				dir := cgroupOf(t, cmds[0].Process.Pid, controller, tree.mode == cgroups.Unified)
				b, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.TrimSpace(string(b)); got != value {
					t.Errorf("%s: %q, want %q", filepath.Join(dir, file), got, value)
				}
			}
		})
	}
}

// cgroupOf is the directory of the cgroup process pid is in: the
// controller's hierarchy on cgroup v1, the one hierarchy on v2.
func cgroupOf(t *testing.T, pid int, controller string, unified bool) string {
	t.Helper()
	cgs, err := cgroupsOf(strconv.Itoa(pid))
	if err != nil {
		t.Fatal(err)
	}
	if unified {
		controller = ""
	}
	path, ok := cgs[controller]
	if !ok {
		t.Fatalf("process %d is in no %q cgroup: %v", pid, controller, cgs)
	}
	if unified {
		return filepath.Join(cgroupRoot, path)
	}
	return filepath.Join(cgroupRoot, controller, path)
}

// allowAllDevices lets tree's device cgroup <own>/<parent> allow every
// device again (it has no child cgroup).
func allowAllDevices(t *testing.T, tree *cgroupTree) {
	t.Helper()
	writeDevices(t, tree, "devices.allow", "a")
}

// writeDevices writes value to file of tree's device cgroup <own>/<parent>:
// once the child cgroups removed a moment ago have gone offline, where value
// allows or refuses every device.
func writeDevices(t *testing.T, tree *cgroupTree, file, value string) {
	t.Helper()
	var err error
	atodtest.WaitFor(t, 5*time.Second, "the device cgroup's removed children to go offline", func() bool {
		err = writeCgroupFile(tree.locks[tree.v1Index[cgroup1.Devices]], file, value)
		return !errors.Is(err, unix.EINVAL) || !strings.HasPrefix(value, "a")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestrictDevices gives the tree's device cgroup the sandbox's rules
// from each state it may be found in: allowing every device, without and
// with a child cgroup (an earlier atod's run), or with one removed a moment
// ago (still online), and refusing by default with other exceptions than
// the sandbox's, with a child cgroup.
func TestRestrictDevices(t *testing.T) {
	atodtest.NeedRoot(t) // it creates cgroups
	tree, err := newCgroupTree("atod-unit-test-"+strconv.Itoa(os.Getpid()), false, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.removeParents() })
	i, ok := tree.v1Index[cgroup1.Devices]
	if tree.mode == cgroups.Unified || !ok {
		t.Skip("no cgroup v1 device controller")
	}
	for n, j := range tree.v1Index {
		if n != cgroup1.Devices && j == i {
			t.Skip("the device controller shares its hierarchy here")
		}
	}
	dir := tree.v1Owned[i]
	list := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "devices.list"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	child := filepath.Join(dir, "atod-unit-test-child")
	for _, c := range []struct {
		name           string
		prepare        func()
		withChild      bool
		shared         bool
		wantParentList string
	}{
		{"allows every device", func() {}, false, true, deviceList()},
		{"allows every device, with a child", func() { allowAllDevices(t, tree) }, true, false, "a *:* rwm\n"},
		{"allows every device, its child removed a moment ago (as removeStale's)", func() {
			allowAllDevices(t, tree)
			if err := os.Mkdir(child, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(child); err != nil {
				t.Fatal(err)
			}
		}, false, true, deviceList()},
		{"refuses by default, other exceptions, with a child", func() {
			for _, w := range [][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:3 rwm"}, {"devices.allow", "c 10:200 rwm"}} {
				writeDevices(t, tree, w[0], w[1])
			}
		}, true, true, deviceList()},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.prepare()
			if c.withChild {
				if err := os.Mkdir(child, 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(child)
			}
			tree.sharedDevices = false
			if err := tree.restrictDevices(); err != nil {
				t.Fatal(err)
			}
			if tree.sharedDevices != c.shared {
				t.Errorf("sharedDevices %v, want %v", tree.sharedDevices, c.shared)
			}
			if got := list(); got != c.wantParentList {
				t.Errorf("%s/devices.list: %q, want %q", dir, got, c.wantParentList)
			}
			// Either way a run's process is restricted to the sandbox's
			// devices.
			j, err := tree.create(newJobID(), job.DefaultLimits, false)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { j.killAndWait(); j.delete() }()
			cmds, release := startInCgroup(t, j, 1)
			defer release()
			b, err := os.ReadFile(filepath.Join(cgroupOf(t, cmds[0].Process.Pid, "devices", false), "devices.list"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != deviceList() {
				t.Errorf("the run's devices.list: %q, want %q", b, deviceList())
			}
		})
	}
}
