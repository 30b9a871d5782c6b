package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
)

// nodeModules is where scripts/setup-host installs the Node.js clients'
// packages (ws, @msgpack/msgpack, typescript).
func nodeModules(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ATOD_NODE_MODULES")
	if dir == "" {
		dir = "/var/cache/atod/node/node_modules"
	}
	for _, pkg := range []string{"ws", "@msgpack/msgpack", "typescript"} {
		if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
			t.Fatalf("Node.js package %s is not installed in %s: run scripts/setup-host", pkg, dir)
		}
	}
	return dir
}

// TestSeedJavaScriptExample runs the JavaScript example of the service's v0
// API reference, the document the project started from (its "seed"), as
// README.md shows it: scripts/js/seed-example.js.
func TestSeedJavaScriptExample(t *testing.T) {
	atodtest.NeedRoot(t)
	modules := nodeModules(t)
	d := startDaemon(t, daemonOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
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

func TestNodeV1Session(t *testing.T) {
	atodtest.NeedRoot(t)
	modules := nodeModules(t)
	d := startDaemon(t, daemonOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "../scripts/js/v1-session.js", d.url("/api/v1/ws/execute"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("node printed %d runs:\n%s", len(lines), out)
	}
	type run struct {
		Stdout, Stderr string
		Done           map[string]any
	}
	var runs []run
	for _, l := range lines {
		var r run
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if runs[0].Stdout != "hello v1\n" || runs[0].Done["status_type"] != "exited" {
		t.Errorf("first run: %+v", runs[0])
	}
	if runs[1].Stdout != "out\n" || runs[1].Stderr != "err\n" || runs[1].Done["status_value"] != 3.0 {
		t.Errorf("second run on the same connection: %+v", runs[1])
	}
	if runs[2].Stdout != "started\n" || runs[2].Done["status_type"] != "killed" || runs[2].Done["status_value"] != 9.0 || runs[2].Done["timed_out"] != false {
		t.Errorf("killed run: %+v", runs[2])
	}
	assertNoLeftovers(t, d)
}

// TestTypeScriptClient builds clients/typescript as its users would (tsc,
// in a copy of the package whose node_modules are the cache's) and runs its
// tests (node's test runner) against a real daemon: v1 streaming, Kill,
// interactive input, limits, a refusal, and the HTTP API.
func TestTypeScriptClient(t *testing.T) {
	atodtest.NeedRoot(t)
	modules := nodeModules(t)
	pkg := t.TempDir()
	if out, err := exec.Command("cp", "-r", "../clients/typescript/.", pkg).CombinedOutput(); err != nil {
		t.Fatalf("copying the package: %v\n%s", err, out)
	}
	if err := os.Symlink(modules, filepath.Join(pkg, "node_modules")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(120*time.Second))
	defer cancel()
	build := exec.CommandContext(ctx, "node", filepath.Join(modules, "typescript/bin/tsc"), "-p", ".")
	build.Dir = pkg
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	d := startDaemon(t, daemonOptions{})
	test := exec.CommandContext(ctx, "node", "--experimental-websocket", "--test", "test/")
	test.Dir = pkg
	test.Env = append(os.Environ(), "ATOD_URL=http://"+d.addr)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("the client's tests: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	assertNoLeftovers(t, d)
}
