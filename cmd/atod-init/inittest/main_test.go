// Package inittest runs atod-init, which is C (../atod-init.c), in both of
// its roles: /ATO/yargs, and PID 1 of a pid namespace of the test's own,
// handed jobs in the daemon's format (internal/initproto) and read back
// with the daemon's reader. It needs no root: the namespace comes with a
// user namespace of its own.
package inittest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
)

// initPath is the atod-init under test: $ATOD_BIN_DIR's (what make built)
// or one built for this run.
var initPath string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if dir := os.Getenv("ATOD_BIN_DIR"); dir != "" {
		initPath = filepath.Join(dir, "atod-init")
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
