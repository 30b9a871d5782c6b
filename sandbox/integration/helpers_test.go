package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/rootfs/layer"
	"github.com/atod-project/atod/sandbox"
	"github.com/atod-project/atod/sandbox/job"
)

// testRootfs is the root filesystem the tests run in: $ATOD_TEST_ROOTFS, or
// the tree of the debian-12 image that `atod rootfs build debian-12` installs
// (the image store's names/debian-12 points at it).
func testRootfs(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ATOD_TEST_ROOTFS")
	if dir == "" {
		var err error
		if dir, err = atodtest.InstalledImage("debian-12"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "bash")); err != nil {
		t.Fatalf("test rootfs %s has no /bin/bash (%v): run atod rootfs build debian-12", dir, err)
	}
	return dir
}

const testUIDBase = 2_000_000

// testSandbox is a sandbox with the facts the leftover checks need.
type testSandbox struct {
	*sandbox.Sandbox
	state  string
	slots  int
	cgroup string
}

// testBash is the static Bash the sandbox mounts: $ATOD_TEST_BASH, else the
// one the daemon of $ATOD_BIN_DIR would mount (atod-bash there, where make
// setup built it), else Debian's bash-static.
func testBash() string {
	if b := os.Getenv("ATOD_TEST_BASH"); b != "" {
		return b
	}
	if dir := os.Getenv("ATOD_BIN_DIR"); dir != "" {
		own := filepath.Join(dir, "atod-bash")
		if st, err := os.Stat(own); err == nil && st.Mode().IsRegular() {
			return own
		}
	}
	return "/bin/bash-static"
}

// newSandbox makes a sandbox with its own state directory and cgroup
// parent, closed at the end of the test.
func newSandbox(t testing.TB, slots int) *testSandbox {
	t.Helper()
	return newSandboxWith(t, slots, initPath)
}

// newSandboxWith is newSandbox with init as its atod-init, and the options
// mod changes.
func newSandboxWith(t testing.TB, slots int, init string, mod ...func(*sandbox.Options)) *testSandbox {
	t.Helper()
	atodtest.NeedRoot(t)
	state := t.TempDir()
	// Runs' setup reaches their root through the state directory as
	// their unprivileged host ids; t.TempDir's parent is private to root.
	for _, d := range []string{state, filepath.Dir(state)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A cgroup name of its own: a sandbox holds its name locked, and a
	// developer's run and a helper's may share the host.
	var b [4]byte
	rand.Read(b[:])
	cgroup := "atod-test-" + hex.EncodeToString(b[:])
	opts := sandbox.Options{
		StateDir:   state,
		InitPath:   init,
		BashPath:   testBash(),
		UIDBase:    testUIDBase,
		Slots:      slots,
		CgroupName: cgroup,
		CgroupView: cgroupView,
		// The test images are atod's, from its store.
		ImageIDShift: layer.ImageIDShift,
	}
	for _, m := range mod {
		m(&opts)
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return &testSandbox{Sandbox: sb, state: state, slots: slots, cgroup: cgroup}
}

type output struct {
	stdout, stderr bytes.Buffer
	res            job.Result
}

// runScript runs a bash script in the test rootfs.
func runScript(t testing.TB, sb *testSandbox, script string, timeout time.Duration, mod ...func(*job.Spec)) *output {
	t.Helper()
	return runScriptCtx(t, context.Background(), sb, script, timeout, mod...)
}

func runScriptCtx(t testing.TB, ctx context.Context, sb *testSandbox, script string, timeout time.Duration, mod ...func(*job.Spec)) *output {
	t.Helper()
	out, err := runScriptErr(ctx, sb, testRootfs(t), script, timeout, mod...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runScriptErr is runScriptCtx for goroutines: it fails no test.
func runScriptErr(ctx context.Context, sb *testSandbox, rootfs, script string, timeout time.Duration, mod ...func(*job.Spec)) (*output, error) {
	var out output
	spec := job.Spec{
		Rootfs:  rootfs,
		Files:   job.Files{Code: []byte(script), Runner: []byte("exec bash /ATO/code\n")},
		Command: job.RunnerCommand(),
		Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/ATO/context", "LANG=C.UTF-8"},
		Timeout: timeout,
		Stdout:  &out.stdout,
		Stderr:  &out.stderr,
	}
	for _, m := range mod {
		m(&spec)
	}
	res, err := sb.Run(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("Run: %w (stderr %q)", err, out.stderr.String())
	}
	out.res = res
	return &out, nil
}

// runProcesses lists the host processes of sb's runs: those running as one
// of its slots' uids (a run's own, or its namespace root's).
func (sb *testSandbox) runProcesses(t testing.TB) []int {
	t.Helper()
	pids, err := leftovers.Processes(testUIDBase, testUIDBase+2*sb.slots)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// awaitHold waits until one of sb's runs holds at name (atodtest.HoldCode).
func awaitHold(t testing.TB, sb *testSandbox, name string) {
	t.Helper()
	waitFor(t, "a run to hold at "+name, func() bool { return atodtest.InRoot(sb.runProcesses(t), "/tmp/"+name) })
}

// release lets the run that holds at name go on.
func release(t testing.TB, sb *testSandbox, name string) {
	t.Helper()
	if err := atodtest.RemoveInRoot(sb.runProcesses(t), "/tmp/"+name); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, for at most 10 s stretched by
// timescale.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	atodtest.WaitFor(t, 10*time.Second, what, cond)
}

// forkBomb is a runner that forks until its task limit stops it, for as
// long as it may run. Its shells' complaints about failing forks go
// nowhere: they would fill the run's stderr cap, and then its closed pipe
// would end the runner with SIGPIPE before its timeout, sooner where runs
// start faster (the cgroup v2 lane's did, once sandboxes were set up by
// atod-init).
const forkBomb = "exec 2>/dev/null; :(){ :|:& };:; sleep 30"

// awaitForkBomb waits until the fork bomb of sb's runs holds at least half
// a run's task limit.
func awaitForkBomb(t testing.TB, sb *testSandbox) {
	t.Helper()
	waitFor(t, "the fork bomb to hold half its task limit", func() bool {
		return int64(len(sb.runProcesses(t))) >= job.DefaultLimits.Pids/2
	})
}
