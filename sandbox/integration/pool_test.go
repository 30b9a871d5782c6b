package integration

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/leftovers"
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

// TestRunnerRenewed: a prepared sandbox whose runner, started ahead, nears
// the end of its wait keeps serving: the pool restarts its runner (a new
// Bash in the same sandbox) rather than preparing another, again and again,
// and a run then takes that sandbox and runs as any run does.
func TestRunnerRenewed(t *testing.T) {
	rootfs := testRootfs(t)
	sb := newSandboxWith(t, 2, initPath, func(o *sandbox.Options) {
		o.Trees = oneTree{rootfs}
		o.Prepared = 1
		o.RunnersAhead = true
		o.RunnerWait = 6 * time.Second // restarted about every second (renewBefore)
	})
	image := func(s *job.Spec) { s.Image = "test" }
	// The first run tells the pool what to prepare.
	if out := runScript(t, sb, "true", 10*time.Second, image); out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("first run: %+v", out.res)
	}
	members := func() []string { return sb.poolMembers(t) }
	waitFor(t, "a sandbox prepared ahead", func() bool { return len(members()) == 1 })
	id := members()[0]
	// Its init stays; each restart is a Bash of a new process id.
	seen := map[int]bool{}
	for _, pid := range sb.runProcesses(t) {
		seen[pid] = true
	}
	before := len(seen)
	waitFor(t, "two restarts of the prepared sandbox's runner", func() bool {
		for _, pid := range sb.runProcesses(t) {
			seen[pid] = true
		}
		return len(seen) >= before+2
	})
	if got := members(); len(got) != 1 || got[0] != id {
		t.Fatalf("prepared sandboxes %v, want %s, its runner restarted, not replaced", got, id)
	}
	out := runScript(t, sb, `echo "hello $(cat /ATO/input)"`, 10*time.Second, image, func(s *job.Spec) { s.Files.Input = []byte("world") })
	if out.res.Status != (job.Status{Type: job.StatusExited}) || out.stdout.String() != "hello world\n" {
		t.Fatalf("a run in the renewed sandbox: %+v, stdout %q, stderr %q", out.res, out.stdout.String(), out.stderr.String())
	}
	if slices.Contains(members(), id) {
		t.Errorf("the run did not take the renewed sandbox %s", id)
	}
}

// TestPreparedWaitNotCharged: a run in a sandbox that waited prepared
// reports its own usage, not the wait's. A runner started ahead
// (Options.RunnersAhead) waits in its open of /ATO/runner on the daemon's
// write lease, and the kernel lets a reader waiting on a write lease poll
// every other tick: its run reported each wakeup of the wait as one of its
// waits (3,600 after 30 s) and their CPU as its kernel time. By default a
// runner starts at the handover, and nothing of the run waits.
func TestPreparedWaitNotCharged(t *testing.T) {
	rootfs := testRootfs(t)
	sb := newSandboxWith(t, 2, initPath, func(o *sandbox.Options) {
		o.Trees = oneTree{rootfs}
		o.Prepared = 1
	})
	image := func(s *job.Spec) { s.Image = "test" }
	if out := runScript(t, sb, "true", 10*time.Second, image); out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("first run: %+v", out.res)
	}
	waitFor(t, "a sandbox prepared ahead", func() bool { return len(sb.poolMembers(t)) == 1 })
	id := sb.poolMembers(t)[0]
	// The idleness is the point: what waiting prepared costs the next run.
	time.Sleep(2 * time.Second)
	out := runScript(t, sb, "true", 10*time.Second, image)
	if out.res.Status != (job.Status{Type: job.StatusExited}) {
		t.Fatalf("the run after the wait: %+v", out.res)
	}
	if slices.Contains(sb.poolMembers(t), id) {
		t.Fatalf("the run did not take the prepared sandbox %s", id)
	}
	// A bash running true waits a handful of times; the lease's polling
	// adds about 250 in 2 s.
	if w := out.res.Stats.Waits; w > 50 {
		t.Errorf("the run after 2 s prepared reports %d waits and %v of kernel time: the wait's, not its own", w, out.res.Stats.Kernel)
	}
}
