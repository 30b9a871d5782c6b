// Package integration runs the sandbox for real: namespaces, cgroups,
// seccomp and a real root filesystem. It needs root.
package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/sandbox"
)

// initPath is the static atod-init: $ATOD_INIT, or one built for this test
// run.
var initPath string

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
	// ATOD_INIT names a prebuilt one (scripts/vmtest runs this test
	// binary in a VM without a Go toolchain).
	if initPath = os.Getenv("ATOD_INIT"); initPath != "" {
		return m.Run()
	}
	dir, err := atodtest.Build("atod-init")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	initPath = filepath.Join(dir, "atod-init")
	return m.Run()
}
