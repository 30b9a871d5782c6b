package server_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the server a front end: it knows the sandbox's spec, not
// how runs are contained, and has no platform-specific code.
func TestImports(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		if strings.HasPrefix(path, "github.com/opencontainers/") || path == "golang.org/x/sys/unix" || path == "syscall" {
			t.Errorf("server imports %s", path)
		}
	}
	for _, f := range append(pkg.GoFiles, pkg.IgnoredGoFiles...) {
		if strings.HasSuffix(f, "_linux.go") {
			t.Errorf("server has platform-specific file %s", f)
		}
	}
}
