package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atod-project/atod/rootfs"
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
		images := os.Getenv("ATOD_IMAGES")
		if images == "" {
			images = "/var/lib/atod/images"
		}
		tree, err := filepath.EvalSymlinks(filepath.Join(images, "names", "debian-12"))
		if err != nil {
			t.Fatalf("no debian-12 image in %s (%v): run atod rootfs build debian-12", images, err)
		}
		dir = filepath.Join(tree, "rootfs")
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

// testBash is the static Bash the sandbox mounts: $ATOD_TEST_BASH, or
// Debian's bash-static.
func testBash() string {
	if b := os.Getenv("ATOD_TEST_BASH"); b != "" {
		return b
	}
	return "/bin/bash-static"
}

// newSandbox makes a sandbox with its own state directory and cgroup
// parent, closed at the end of the test.
func newSandbox(t testing.TB, slots int) *testSandbox {
	t.Helper()
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
	sb, err := sandbox.New(sandbox.Options{
		StateDir:   state,
		InitPath:   initPath,
		BashPath:   testBash(),
		UIDBase:    testUIDBase,
		Slots:      slots,
		CgroupName: cgroup,
		CgroupView: cgroupView,
		// The test images are atod's, from its store.
		ImageIDShift: rootfs.ImageIDShift,
	})
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
	var out output
	spec := job.Spec{
		Rootfs:  testRootfs(t),
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
		t.Fatalf("Run: %v (stderr %q)", err, out.stderr.String())
	}
	out.res = res
	return &out
}
