package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// assertNoLeftovers checks that nothing of d's runs remains on the host.
func assertNoLeftovers(t testing.TB, d *daemon) {
	t.Helper()
	// A run's cleanup finishes just after its result is sent.
	var found []string
	for deadline := time.Now().Add(timescale.D(2 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		var err error
		found, err = leftovers.Find(d.scope())
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, f := range found {
		t.Errorf("left behind: %s", f)
	}
}

func (d *daemon) scope() leftovers.Scope {
	lo, hi := d.runUIDs()
	// The service's state directory is its unit's RuntimeDirectory, which
	// systemd bind-mounts in the unit's namespace.
	return leftovers.Scope{UIDLo: lo, UIDHi: hi, DaemonPID: d.pid, CgroupName: d.cgroup, StateDir: d.state, StateDirMounted: d.cmd == nil}
}

// runUIDs is the range [lo, hi) of the host uids that d's runs have: one
// per slot from e2eUIDBase, or, when d is rootless, the daemon's own uid.
func (d *daemon) runUIDs() (lo, hi int) {
	if d.user.rootless {
		return d.user.uid, d.user.uid + 1
	}
	return e2eUIDBase, e2eUIDBase + 2*d.slots // a run uid and a namespace-root uid per slot
}

// runProcesses lists the host processes of d's runs: those running as one of
// its runs' uids, but for the daemon itself (and the copy of itself it runs
// in its own user namespace), which has the same uid as its runs when
// rootless, and the inits of the sandboxes it keeps prepared ahead.
func (d *daemon) runProcesses(t testing.TB) []int {
	t.Helper()
	pids, err := leftovers.RunProcesses(d.scope())
	if err != nil {
		t.Fatal(err)
	}
	serving := d.servingPID(t)
	return slices.DeleteFunc(pids, func(p int) bool { return p == d.pid || p == serving })
}

// runProcessesOf lists the processes of d's runs whose command line (its
// arguments, each ended by NUL) starts with cmdline.
func runProcessesOf(t testing.TB, d *daemon, cmdline string) []int {
	t.Helper()
	return slices.DeleteFunc(d.runProcesses(t), func(p int) bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		return !strings.HasPrefix(string(b), cmdline)
	})
}

func TestClientVanishingMidRunKillsIt(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	for _, code := range []string{"sleep 10", "yes > /dev/null", "while :; do :; done & sleep 10"} {
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
		conn, _, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageBinary, job{language: "bash", code: code, timeout: scaledTimeout(30)}.encode(t)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the run to start", func() bool { return len(d.runProcesses(t)) > 0 })
		conn.CloseNow()
		start := time.Now()
		waitFor(t, "the run to be killed", func() bool { return len(d.runProcesses(t)) == 0 })
		t.Logf("%q: gone %v after the client vanished", code, time.Since(start))
		if e := time.Since(start); e > timescale.D(time.Second) {
			t.Errorf("%q: run outlived its client by %v", code, e)
		}
		cancel()
	}
	assertNoLeftovers(t, d)
}

// waitFor polls cond until it holds, for at most 5 s stretched by timescale.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	atodtest.WaitFor(t, 5*time.Second, what, cond)
}

// holdCode is shell code that holds its run until the test removes
// /tmp/name in it (release): the run is known to be in flight for as long
// as the test needs, however slow the machine.
func holdCode(name string) string { return atodtest.HoldCode(name) }

// awaitHold waits until one of d's runs holds at name (holdCode).
func awaitHold(t testing.TB, d *daemon, name string) {
	t.Helper()
	atodtest.WaitFor(t, 20*time.Second, "a run to hold at "+name, func() bool { return inSomeRun(t, d, "/tmp/"+name) })
}

// release lets the run that holds at name (holdCode) go on.
func release(t testing.TB, d *daemon, name string) {
	t.Helper()
	removeInRun(t, d, "/tmp/"+name)
}

// TestCgroupNameIsExclusive: a daemon kills the job cgroups it finds under
// its cgroup name at startup (a dead daemon's leftovers), so a second
// daemon of the same name would kill the first's runs. It must refuse to
// start instead, and the first's run goes on.
func TestCgroupNameIsExclusive(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("a rootless daemon's job cgroups are beside its own, in its delegated cgroup")
	}
	d := startDaemon(t, daemonOptions{})
	type outcome struct {
		r   *protocol.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := executeErr(d, job{language: "bash", code: holdCode("first") + "; echo survived", timeout: 60})
		done <- outcome{r, err}
	}()
	// The run holds until the second daemon has had its say.
	awaitHold(t, d, "first")

	second := exec.Command(filepath.Join(binDir, "atod"), "serve", "--listen", "127.0.0.1:0", "--state", d.user.stateDir(t),
		"--cgroup-name", d.cgroup, "--uid-base", fmt.Sprint(e2eUIDBase+1000), "--concurrency", "1")
	var stderr strings.Builder
	second.Stderr = &stderr
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case err := <-exited:
		// v1: the cgroup name's parents; v2: the delegated cgroup.
		if err == nil || !strings.Contains(stderr.String(), "is in use by another atod on this host: give each daemon a ") {
			t.Errorf("a second daemon of the same cgroup name: %v\n%s", err, stderr.String())
		}
	case <-time.After(timescale.D(10 * time.Second)):
		second.Process.Kill()
		<-exited
		t.Errorf("a second daemon of the same cgroup name started:\n%s", stderr.String())
	}
	release(t, d, "first")
	if o := <-done; o.err != nil || string(o.r.Stdout) != "survived\n" {
		t.Errorf("the first daemon's run: %+v, %v", o.r, o.err)
	}
	assertNoLeftovers(t, d)
}
