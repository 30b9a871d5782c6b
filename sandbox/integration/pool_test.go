package integration

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox"
	"github.com/atod-project/atod/sandbox/job"
)

// oneTree is the image store of a test: image names hold rootfs, which
// nothing replaces.
type oneTree struct{ rootfs string }

func (o oneTree) Hold(string) (string, func(), error) { return o.rootfs, func() {}, nil }

// poolMembers are the ids of sb's idle prepared sandboxes, sorted.
func (sb *testSandbox) poolMembers(t *testing.T) []string {
	t.Helper()
	ids, err := leftovers.PoolMembers("", sb.state)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(ids))
}

// TestRunnerSleepsAhead: a prepared sandbox's runner, started ahead
// (Options.RunnersAhead), is the sandbox's Bash with its wait option, asleep
// reading its gate, before anything of its run is there; the run then
// takes that sandbox and runs as any run does, its files as its request
// gave them.
func TestRunnerSleepsAhead(t *testing.T) {
	needAtodBash(t)
	rootfs := testRootfs(t)
	sb := newSandboxWith(t, 2, initPath, func(o *sandbox.Options) {
		o.Trees = oneTree{rootfs}
		o.Prepared = 1
		o.RunnersAhead = true
	})
	image := func(s *job.Spec) { s.Image = "test" }
	// The first run tells the pool what to prepare.
	if out := runScript(t, sb, "true", 10*time.Second, image); out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("first run: %+v", out.res)
	}
	waitFor(t, "a sandbox prepared ahead", func() bool { return len(sb.poolMembers(t)) == 1 })
	id := sb.poolMembers(t)[0]
	waitFor(t, "the runner started ahead to sleep reading its gate", func() bool { return sb.runnerAsleep(t) })
	// Nothing of the gate reaches the run: the code's Bash has what the
	// runner's passed on.
	out := runScript(t, sb, `echo "hello $(cat /ATO/input)"; cat /proc/$$/cmdline | tr '\0' ' '; [ ! -e /proc/$$/fd/3 ] || echo " gate leaked"`, 10*time.Second, image,
		func(s *job.Spec) { s.Files.Input = []byte("world") })
	if out.res.Status != (job.Status{Type: job.StatusExited}) || out.stdout.String() != "hello world\nbash /ATO/code " {
		t.Fatalf("a run in the prepared sandbox: %+v, stdout %q, stderr %q", out.res, out.stdout.String(), out.stderr.String())
	}
	if slices.Contains(sb.poolMembers(t), id) {
		t.Errorf("the run did not take the prepared sandbox %s", id)
	}
}

// runnerAsleep reports whether one of sb's processes is a runner started
// ahead, atod-bash with its wait option, asleep reading its gate.
func (sb *testSandbox) runnerAsleep(t *testing.T) bool {
	t.Helper()
	for _, pid := range sb.runProcesses(t) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.HasPrefix(string(cmdline), job.BashPath+"\x00--atod-wait-fd\x00") {
			continue
		}
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
		if strings.Contains(string(wchan), "pipe_read") {
			return true
		}
	}
	return false
}

// needAtodBash skips a test of runners started ahead where the sandbox's
// Bash is not atod-bash (make setup builds it): another Bash has no wait
// option, and its runners start at the handover.
func needAtodBash(t *testing.T) {
	t.Helper()
	if filepath.Base(testBash()) != "atod-bash" {
		t.Skipf("runners start ahead only with atod-bash; the test's Bash is %s", testBash())
	}
}

// TestPreparedWaitNotCharged: a run in a sandbox that waited prepared, its
// runner started ahead, reports its own usage, not the wait's. The runner
// used to wait in its open of /ATO/runner on the daemon's write lease, and
// the kernel lets a reader waiting on a write lease poll every other tick:
// its run reported each wakeup of the wait as one of its waits (3,600 after
// 30 s; this test, 252) and their CPU as its kernel time. Its Bash now
// sleeps in a read of its gate (ahead_linux.go).
func TestPreparedWaitNotCharged(t *testing.T) {
	needAtodBash(t)
	rootfs := testRootfs(t)
	sb := newSandboxWith(t, 2, initPath, func(o *sandbox.Options) {
		o.Trees = oneTree{rootfs}
		o.Prepared = 1
		o.RunnersAhead = true
	})
	image := func(s *job.Spec) { s.Image = "test" }
	if out := runScript(t, sb, "true", 10*time.Second, image); out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("first run: %+v", out.res)
	}
	waitFor(t, "a sandbox prepared ahead", func() bool { return len(sb.poolMembers(t)) == 1 })
	id := sb.poolMembers(t)[0]
	waitFor(t, "the runner started ahead to sleep reading its gate", func() bool { return sb.runnerAsleep(t) })
	// The idleness is the point: what waiting prepared costs the next run.
	time.Sleep(timescale.D(2 * time.Second))
	out := runScript(t, sb, "true", 10*time.Second, image)
	if out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("the run after the wait: %+v", out.res)
	}
	if slices.Contains(sb.poolMembers(t), id) {
		t.Fatalf("the run did not take the prepared sandbox %s", id)
	}
	// A bash running true waits a handful of times; the lease's polling
	// added about 250 in 2 s.
	if w := out.res.Stats.Waits; w > 50 {
		t.Errorf("the run after 2 s prepared reports %d waits and %v of kernel time: the wait's, not its own", w, out.res.Stats.Kernel)
	}
	if real := out.res.Stats.Real; real > timescale.D(time.Second) {
		t.Errorf("the run after 2 s prepared reports %v of real time: the wait's, not its own", real)
	}
}
