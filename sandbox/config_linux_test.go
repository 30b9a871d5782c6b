package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/sandbox/job"
)

func TestOpenFilesLimitFitsTheFileTable(t *testing.T) {
	tests := []struct {
		name     string
		slots    int
		pids     int64
		fileMax  uint64
		want     uint64
		wantFits bool
	}{
		{"a large table: the most", 4, 256, 1 << 40, maxOpenFiles, true},
		{"this machine's table, 8 slots", 8, 256, 2466160, 2466160 / 2 / (8 * 256), true},
		{"a table that cannot hold the least", 8, 256, 100000, minOpenFiles, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fits, err := openFilesLimit(false, tt.slots, tt.pids, tt.fileMax)
			if err != nil || got != tt.want || fits != tt.wantFits {
				t.Errorf("openFilesLimit(%d slots, %d pids, file-max %d) = %d, %v, %v; want %d, %v",
					tt.slots, tt.pids, tt.fileMax, got, fits, err, tt.want, tt.wantFits)
			}
			if tt.wantFits && uint64(tt.slots)*uint64(tt.pids)*got > tt.fileMax/2 {
				t.Errorf("%d slots x %d tasks x %d files is more than half of %d", tt.slots, tt.pids, got, tt.fileMax)
			}
		})
	}
}

func TestMqueueSysctlsFitTheShare(t *testing.T) {
	for _, c := range []struct {
		share uint64
		want  string
	}{{819200 / 8, "8192"}, {819200 / 16, "4096"}, {819200 / 32, "2048"}, {819200 / 128, "256"}, {100, "128"}} {
		if got := mqueueSysctls(c.share)["fs.mqueue.msgsize_default"]; got != c.want {
			t.Errorf("share %d: msgsize_default %s, want %s", c.share, got, c.want)
		}
	}
}

// Rootless runs share the daemon's user's epoll watches and pipe pages:
// the daemon says which of them one run could take whole, and what to set.
func TestRootlessCountWarnings(t *testing.T) {
	const mib = 1 << 20
	need := uint64(2 * 2 * 512 * mib / epollWatchBytes) // 2 slots of 512 MiB
	for _, c := range []struct {
		name          string
		slots         int
		memory        int64
		watches, hard uint64
		want          []string
	}{
		{"room for every run twice", 2, 512 * mib, need, 0, nil},
		{"one watch short", 2, 512 * mib, need - 1, 0, []string{fmt.Sprintf("fs.epoll.max_user_watches=%d", need)}},
		{"a hard pipe limit", 1, 256 * mib, 1 << 30, 16384, []string{"fs.pipe-user-pages-hard=0"}},
		{"both", 8, 512 * mib, 65536, 1, []string{"fs.epoll.max_user_watches=67108864", "fs.pipe-user-pages-hard=0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := rootlessCountWarnings(c.slots, c.memory, c.watches, c.hard)
			if len(got) != len(c.want) {
				t.Fatalf("warnings %q, want ones saying %q", got, c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not say %q", got[i], w)
				}
			}
		})
	}
}

// A cgroup name is one directory below the daemon's own cgroup: anything
// else would put the job cgroups, and what a starting daemon kills as a
// dead one's, outside it.
func TestCgroupNameIsOneDirectory(t *testing.T) {
	for _, name := range []string{"..", ".", "../x", "a/b", "/abs", "x\x00", "a\nb", "a b"} {
		_, err := New(Options{CgroupName: name})
		if err == nil || !strings.Contains(err.Error(), "want one directory name") {
			t.Errorf("cgroup name %q: %v", name, err)
		}
	}
}

// The setup plan of a sandbox (what atod-init's setup carries out): the
// mounts before the pivot, the rest after it in an order that works (the
// message queue size before /proc/sys is read-only), the job's files and
// binaries read-only, the root read-only unless it is the run's own
// overlay, the run's ids last before init, and setgroups only with root.
func TestSetupPlan(t *testing.T) {
	for _, c := range []struct {
		name     string
		rootless bool
		rootfs   string // "": the image's tree itself
	}{{"root, own overlay", false, "/run/atod/roots/x/root"}, {"rootless, the image's tree", true, ""}} {
		t.Run(c.name, func(t *testing.T) {
			s := &Sandbox{initPath: "/usr/lib/atod/atod-init", bashPath: "/bin/bash-static", rootless: c.rootless,
				shares: perUserShares{msgqueue: 819200 / 16}}
			key := &template{rootfs: "/var/lib/atod/images/x/tree", uid: 1000, gid: 100, limits: job.DefaultLimits}
			rootfs := c.rootfs
			if rootfs == "" {
				rootfs = key.rootfs
			}
			plan := s.setupPlan(key, rootfs, "/run/atod/jobs/atod-1")
			if _, err := plan.Encode(); err != nil {
				t.Fatal(err)
			}
			at := func(name string, args ...string) int {
				for i, op := range plan {
					if op.Name == name && (len(args) == 0 || slices.Equal(op.Args[:len(args)], args)) {
						return i
					}
				}
				return -1
			}
			pivot := at("pivot")
			if plan[0].Name != "root" || plan[0].Args[0] != rootfs || pivot < 0 {
				t.Fatalf("plan does not start at root %s or has no pivot: %v", rootfs, plan)
			}
			for i, op := range plan {
				before := slices.Contains([]string{"mount", "bind", "symlink"}, op.Name)
				if before != (i < pivot) && op.Name != "root" && op.Name != "pivot" {
					t.Errorf("step %d %v is on the wrong side of the pivot (step %d)", i, op, pivot)
				}
			}
			ro := strconv.Itoa(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
			for _, f := range append(slices.Clone(jobFiles), "yargs", "bash") {
				if !slices.ContainsFunc(plan, func(op initproto.Op) bool {
					return op.Name == "bind" && op.Args[1] == "/ATO/"+f && op.Args[2] == ro
				}) {
					t.Errorf("/ATO/%s is not bound read-only, nosuid, nodev: %v", f, plan)
				}
			}
			if sysctl, proc := at("sysctl", "fs.mqueue.msgsize_default", "4096"), at("readonly", "/proc/sys"); sysctl < 0 || proc < sysctl {
				t.Errorf("msgsize_default set at step %d, /proc/sys read-only at %d", sysctl, proc)
			}
			for _, p := range maskedPaths {
				if at("mask", p) < pivot {
					t.Errorf("%s is not masked", p)
				}
			}
			for _, p := range readonlyPaths {
				if at("readonly", p) < pivot {
					t.Errorf("%s is not read-only", p)
				}
			}
			for _, d := range sandboxDevices {
				if i := at("bind", d.path, d.path); i < 0 || i > pivot || plan[i].Args[2] != "0" {
					t.Errorf("device %s is not bound from the host as it is: %v", d.path, plan)
				}
			}
			proc, dev := at("mount", "proc", "proc"), at("mount", "tmpfs", "tmpfs", strconv.Itoa(unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME))
			if proc < 0 || plan[proc].Args[2] != strconv.Itoa(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) || plan[proc].Args[4] != "/proc" {
				t.Errorf("/proc is not mounted nosuid, nodev, noexec: %v", plan)
			}
			if dev < 0 || plan[dev].Args[4] != "/dev" {
				t.Errorf("/dev is not a nosuid, noexec tmpfs: %v", plan)
			}
			if readonly := at("remount-ro", "/") > pivot; readonly != (rootfs == key.rootfs) {
				t.Errorf("root read-only: %v, for a root that is the image's tree: %v", readonly, rootfs == key.rootfs)
			}
			setgroups := "1"
			if c.rootless {
				setgroups = "0"
			}
			n := len(plan)
			if user, exec := plan[n-2], plan[n-1]; user.Name != "user" || !slices.Equal(user.Args, []string{"1000", "100", setgroups}) ||
				exec.Name != "exec" || exec.Args[0] != yargsPath {
				t.Errorf("the plan ends with %v, %v; want user 1000 100 %s, exec %s", user, exec, setgroups, yargsPath)
			}
		})
	}
}

// The device rules are what both cgroup versions take: cgroup v2's eBPF
// filter is compiled from them (v1 writes them as they are), and it
// refuses a rule without a device type.
func TestDeviceRulesCompile(t *testing.T) {
	if _, _, err := cgroup2.DeviceFilter(deviceRules()); err != nil {
		t.Fatalf("compiling the device rules for cgroup v2: %v", err)
	}
}

// A sandbox is ready only when its init says so: a status pipe that ends
// with nothing said (the setup or init died on the way) is a failed
// sandbox, not a ready one (an independent review made a setup crash: 2 of
// 5 runs then ended "unknown" instead of failing).
func TestSetupOutcome(t *testing.T) {
	if err := setupOutcome(initproto.Ready); err != nil {
		t.Errorf("ready: %v", err)
	}
	for _, c := range []struct {
		said string
		errs []error
		want string
	}{
		{"setting up the sandbox: mounting proc on /proc: EPERM", nil, "mounting proc on /proc: EPERM"},
		{"", nil, "it ended before its init was ready, without a word"},
		{"", []error{syscall.EPIPE}, "it ended before its init was ready: broken pipe"},
		{"read", nil, "read"}, // part of the word is no word
	} {
		if err := setupOutcome(c.said, c.errs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("said %q, errors %v: %v, want an error saying %q", c.said, c.errs, err, c.want)
		}
	}
}
