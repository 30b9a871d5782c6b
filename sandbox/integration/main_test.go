// Package integration runs the sandbox for real: namespaces, cgroups,
// seccomp and a real root filesystem. It needs root; the test binary
// re-executes itself as the containers' init.
package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/sandbox"
)

func init() {
	if sandbox.IsInit() {
		// Every sandbox of these tests has atod-nsinit (newSandbox), so
		// libcontainer's init runs there: sandbox/nsinit_linux.go hands
		// the process over before the Go runtime starts. Here, it did
		// not (a libcontainer whose descriptors moved, say).
		fmt.Fprintln(os.Stderr, "libcontainer's init reached the test binary although atod-nsinit was passed on: the hand-over failed")
		os.Exit(1)
	}
}

// initPath is the static atod-init: $ATOD_INIT, or one built for this test
// run; nsinitPath is atod-nsinit: $ATOD_NSINIT, or one built for it.
var initPath, nsinitPath string

// cgroupView is the delegated cgroup the tests' view of the cgroup tree is
// rooted at, as the daemon's is (see sandbox.EnterOwnMountNamespace).
var cgroupView string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips itself (newSandbox): go test reports them
		// as skipped, not passed.
		return m.Run()
	}
	// This re-executes the test binary in a mount namespace of its own
	// (on cgroup v2 with its own view of the cgroup tree) and returns
	// only in the copy, as it does for the daemon.
	view, err := sandbox.EnterOwnMountNamespace()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cgroupView = view
	// ATOD_INIT and ATOD_NSINIT name prebuilt ones (scripts/vmtest runs
	// this test binary in a VM without a Go toolchain).
	if initPath, nsinitPath = os.Getenv("ATOD_INIT"), os.Getenv("ATOD_NSINIT"); initPath != "" && nsinitPath != "" {
		return m.Run()
	}
	dir, err := atodtest.Build("atod-init", "atod-nsinit")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	initPath, nsinitPath = filepath.Join(dir, "atod-init"), filepath.Join(dir, "atod-nsinit")
	return m.Run()
}
