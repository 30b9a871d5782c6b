package protocol

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the package pure: it may import the standard library and
// msgp, nothing else (DESIGN.md, "Layout").
func TestImports(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		first, _, _ := strings.Cut(path, "/")
		if strings.Contains(first, ".") && path != "github.com/tinylib/msgp/msgp" {
			t.Errorf("protocol imports %s; it may import only the standard library and msgp", path)
		}
		if path == "syscall" || path == "os" || path == "net" || strings.HasPrefix(path, "net/") {
			t.Errorf("protocol imports %s; it does no I/O", path)
		}
	}
}
