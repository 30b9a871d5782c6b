package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonWithoutNsinit: a daemon with no atod-nsinit beside it says so
// when it starts, and serves: each sandbox start then runs libcontainer's
// init in the daemon's own binary (sandbox/nsinit_linux.go's constructor
// finds no copy to hand over to, before nsexec or after it).
func TestDaemonWithoutNsinit(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the binaries' copy would have to be the unprivileged user's to run")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"atod", "atod-init"} {
		b, err := os.ReadFile(filepath.Join(binDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, daemonOptions{bin: dir, slots: 2})
	for range 3 { // prepared ahead, then made by the refiller
		r := execute(t, d, job{language: "bash", code: "echo hi", timeout: scaledTimeout(10)})
		if status(r) != "exited/0" || string(r.Stdout) != "hi\n" {
			t.Fatalf("run: %s, stdout %q, stderr %q", status(r), r.Stdout, r.Stderr)
		}
	}
	if !strings.Contains(d.logs(), "no atod-nsinit") {
		t.Errorf("the daemon did not say it has no atod-nsinit; its log:\n%s", d.logs())
	}
	assertNoLeftovers(t, d)
}
