package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"

	"github.com/atod-project/atod/internal/timescale"
)

// nobody is the unprivileged user TestRootlessDaemon starts atod as where
// no test user is configured.
const nobody = 65534

// TestRootlessDaemon checks atod's rootless mode. On a cgroup v2 host whose
// test user owns the tests' delegated cgroup ($ATOD_E2E_DAEMON_UID and
// _GID; scripts/vmtest sets them, and the other tests then also run
// against a rootless daemon) it starts atod as that user and checks what
// rootless mode changes: the runs' uid and gid, the daemon's and the runs'
// cgroups and their owner and limits, and the refusals of users it cannot
// serve. Elsewhere it checks that a rootless atod refuses to start on a
// host without cgroup v2, and says why.
func TestRootlessDaemon(t *testing.T) {
	user := daemonUserFromEnv(t)
	if !user.rootless {
		if cgroups.Mode() == cgroups.Unified {
			t.Skip("cgroup v2: set ATOD_E2E_DAEMON_UID and ATOD_E2E_DAEMON_GID to a user that owns the tests' delegated cgroup (scripts/vmtest does)")
		}
		other := daemonUser{rootless: true, uid: nobody, gid: nobody}
		out := refusal(t, other, "--state", other.stateDir(t))
		for _, want := range []string{"running rootless as uid 65534", "needs cgroup v2", "cgroup v1 cannot delegate"} {
			if !strings.Contains(out, want) {
				t.Errorf("a rootless atod on cgroup v1 does not say %q:\n%s", want, out)
			}
		}
		return
	}

	t.Run("serves", func(t *testing.T) { testRootlessServes(t, user) })
	t.Run("refuses supplementary groups", func(t *testing.T) {
		cmd := atodAs(user, "serve", "--state", user.stateDir(t), "--listen", "127.0.0.1:0")
		cmd.SysProcAttr.Credential.Groups = []uint32{uint32(user.gid + 1)}
		out := mustFail(t, cmd)
		if !strings.Contains(out, fmt.Sprintf("supplementary groups [%d]", user.gid+1)) {
			t.Errorf("a rootless atod with supplementary groups started or did not say why:\n%s", out)
		}
	})
	t.Run("refuses a cgroup another user owns", func(t *testing.T) {
		other := daemonUser{rootless: true, uid: user.uid + 1, gid: user.gid + 1}
		out := refusal(t, other, "--state", other.stateDir(t))
		if !strings.Contains(out, fmt.Sprintf("delegated to its uid %d", other.uid)) || !strings.Contains(out, "Delegate=yes") {
			t.Errorf("a rootless atod in a cgroup it does not own started or did not say why:\n%s", out)
		}
	})
	t.Run("needs a state directory", func(t *testing.T) {
		cmd := atodAs(user, "serve", "--listen", "127.0.0.1:0")
		cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "XDG_RUNTIME_DIR=") })
		out := mustFail(t, cmd)
		if !strings.Contains(out, "pass --state DIR") {
			t.Errorf("a rootless atod without a state directory started or did not say why:\n%s", out)
		}
	})
}

// testRootlessServes starts atod as user and checks a run of it.
func testRootlessServes(t *testing.T, user daemonUser) {
	d := startDaemon(t, daemonOptions{})
	// JSON from a daemon of the tests', text from the service's.
	if logs := d.logs(); !strings.Contains(logs, fmt.Sprintf(`"msg":"rootless: every run maps uid 0 to the daemon's own uid and gid","uid":%d,"gid":%d`, user.uid, user.gid)) &&
		!strings.Contains(logs, fmt.Sprintf(`msg="rootless: every run maps uid 0 to the daemon's own uid and gid" uid=%d gid=%d`, user.uid, user.gid)) {
		t.Errorf("the daemon does not log that it is rootless:\n%s", d.logs())
	}
	if ids, _ := processIDs(d.pid); ids.uid != user.uid || ids.gid != user.gid || !ownGroupsOnly(ids, user) {
		t.Errorf("the daemon runs as %+v, want uid %d gid %d and no groups (but its own)", ids, user.uid, user.gid)
	}
	// It re-executed itself in a user namespace of its own, mapping only
	// its uid and gid (sandbox.EnterUserNS).
	inner := d.servingPID(t)
	if inner == d.pid {
		t.Errorf("the daemon did not re-execute itself in a user namespace of its own")
	}
	if m, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", inner)); err != nil || string(m) != fmt.Sprintf("%10d %10d %10d\n", 0, user.uid, 1) {
		t.Errorf("the serving daemon's uid_map is %q (%v), want its uid as 0 and nothing else", m, err)
	}
	// The daemon moved itself into supervisor/ of its delegated cgroup.
	own := cgroupOf(t, d.pid)
	if filepath.Base(own) != "supervisor" {
		t.Fatalf("the daemon is in cgroup %s, not in a supervisor leaf", own)
	}
	base := filepath.Dir(own)
	if uid := ownerOf(t, filepath.Join("/sys/fs/cgroup", base)); uid != user.uid {
		t.Errorf("the daemon's cgroup %s belongs to uid %d, not %d", base, uid, user.uid)
	}

	stdout := make(chan string, 1)
	go func() {
		r, err := executeErr(d, job{language: "bash", timeout: 60, code: "" +
			"cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; " +
			"grep -E '^(Uid|Gid|Groups):' /proc/self/status; " + holdCode("rootless") + "; echo end"})
		if err != nil {
			stdout <- err.Error()
			return
		}
		stdout <- string(r.Stdout)
	}()
	// Once the run holds, the container's setup is over and every
	// process of the run is inside it.
	awaitHold(t, d, "rootless")
	pids := d.runProcesses(t)
	// The hold's sleeps come and go; the shells and init stay.
	sleeps := runProcessesOf(t, d, "sleep\x00")
	lasting := slices.IndexFunc(pids, func(p int) bool { return !slices.Contains(sleeps, p) })
	if lasting < 0 {
		t.Fatalf("no lasting process among the run's processes %v", pids)
	}
	for _, p := range pids {
		ids, ok := processIDs(p)
		if ok && (ids.uid != user.uid || ids.gid != user.gid || !ownGroupsOnly(ids, user)) {
			t.Errorf("run process %d runs as %+v on the host, want uid %d gid %d and no groups (but its own)", p, ids, user.uid, user.gid)
		}
	}
	// The run's cgroup is a job cgroup beside supervisor/, made by the
	// daemon, so it is the daemon's user's, with the default limits.
	jobCgroup := cgroupOf(t, pids[lasting])
	if filepath.Dir(jobCgroup) != base || !strings.HasPrefix(filepath.Base(jobCgroup), "atod-") {
		t.Errorf("run process %d is in cgroup %s, not in a job cgroup of %s", pids[lasting], jobCgroup, base)
	} else {
		dir := filepath.Join("/sys/fs/cgroup", jobCgroup)
		if uid := ownerOf(t, dir); uid != user.uid {
			t.Errorf("job cgroup %s belongs to uid %d, not %d", jobCgroup, uid, user.uid)
		}
		for file, want := range map[string]string{
			"memory.max": fmt.Sprint(512 << 20), "memory.swap.max": "0", "pids.max": "256", "cpu.max": "100000 100000",
		} {
			if b, err := os.ReadFile(filepath.Join(dir, file)); err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("job cgroup %s: %s is %q (%v), want %q", jobCgroup, file, bytes.TrimSpace(b), err, want)
			}
		}
	}
	release(t, d, "rootless")
	var out string
	select {
	case out = <-stdout:
	case <-time.After(timescale.D(60 * time.Second)):
		t.Fatal("the run did not end")
	}
	// The run's namespace maps its 0 to 0 of the daemon's own user
	// namespace (sandbox.EnterUserNS), which is the daemon's uid on the
	// host: the run's processes have that uid, checked above.
	for _, want := range []string{
		"         0          0          1\n         0          0          1\n",
		"deny\n", "Uid:\t0\t0\t0\t0\n", "end\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the run's stdout lacks %q:\n%s", want, out)
		}
	}
	// Its own group, root's inside, is no other's (systemd's initgroups
	// gives a service's user its group as a supplementary one too).
	if !regexp.MustCompile(`(?m)^Groups:\s*(0\s*)?$`).MatchString(out) {
		t.Errorf("the run has supplementary groups:\n%s", out)
	}
	assertNoLeftovers(t, d)
}

// atodAs is a command running atod with args as user.
func atodAs(user daemonUser, args ...string) *exec.Cmd {
	if img := os.Getenv("ATOD_IMAGES"); img != "" {
		args = append(args, "--images", img)
	}
	cmd := exec.Command(filepath.Join(binDir, "atod"), args...)
	cmd.SysProcAttr = user.credential()
	return cmd
}

// refusal runs atod serve as user with args and returns its output; the
// test fails unless atod refuses to start.
func refusal(t *testing.T, user daemonUser, args ...string) string {
	t.Helper()
	return mustFail(t, atodAs(user, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...))
}

// mustFail runs cmd, which must fail within 30 s, and returns its output.
func mustFail(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(30*time.Second))
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env, c.SysProcAttr = cmd.Env, cmd.SysProcAttr
	out, err := c.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Errorf("%s did not refuse to start (%v):\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// ids are a process's real uid and gid and its supplementary groups.
type ids struct {
	uid, gid int
	groups   string
}

// processIDs reads process pid's ids; ok is false when it has gone.
func processIDs(pid int) (r ids, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return r, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(value)
		switch key {
		case "Uid":
			fmt.Sscan(f[0], &r.uid)
		case "Gid":
			fmt.Sscan(f[0], &r.gid)
		case "Groups":
			r.groups = strings.Join(f, " ")
		}
	}
	return r, true
}

// ownGroupsOnly reports whether the supplementary groups of a process are
// none, or only user's own group, which gives nothing the gid does not.
func ownGroupsOnly(r ids, user daemonUser) bool {
	return r.groups == "" || r.groups == strconv.Itoa(user.gid)
}

// cgroupOf is process pid's cgroup v2 path.
func cgroupOf(t testing.TB, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("process %d has no cgroup v2", pid)
	return ""
}

func ownerOf(t testing.TB, path string) int {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid)
}
