package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeModules is where scripts/setup-host installs the Node.js clients'
// packages (ws, @msgpack/msgpack).
func nodeModules(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ATOD_NODE_MODULES")
	if dir == "" {
		dir = "/var/cache/atod/node/node_modules"
	}
	for _, pkg := range []string{"ws", "@msgpack/msgpack"} {
		if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
			t.Fatalf("Node.js package %s is not installed in %s: run scripts/setup-host", pkg, dir)
		}
	}
	return dir
}

func TestSeedJavaScriptExample(t *testing.T) {
	modules := nodeModules(t)
	d := startDaemon(t, daemonOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "../scripts/js/seed-example.js", d.url("/api/v0/ws/execute"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if string(out) != "stdout: 42\n" {
		t.Errorf("the seed's example printed %q, want %q", out, "stdout: 42\n")
	}
}
