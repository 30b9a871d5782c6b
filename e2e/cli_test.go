package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
)

// atod runs the atod binary and returns its combined output and exit code.
func atod(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "atod"), args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestRunCommand(t *testing.T) {
	atodtest.NeedRoot(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog.py")
	input := filepath.Join(dir, "input")
	os.WriteFile(prog, []byte("import sys\nprint(input(), sys.argv[1:], sys.flags.optimize)\n"), 0o644)
	os.WriteFile(input, []byte("hello\n"), 0o644)
	state := daemonUser{}.stateDir(t)
	out, code := atod(t, "run", "--language", "python", "--input", input, "--option", "-O", "--stats",
		"--state", state, "--cgroup-name", "atod-e2e-run", "--uid-base", "2100000000", prog, "--timeout", "10", "--", "a b", "c")
	if code != 0 || !strings.Contains(out, "hello ['a b', 'c'] 1\n") || !strings.Contains(out, "-- exited/0") {
		t.Errorf("atod run: exit %d\n%s", code, out)
	}
	// As a command line tool: piped stdin is the program's, its output
	// atod's, its exit status atod's, and no log line comes.
	piped := filepath.Join(dir, "piped.py")
	os.WriteFile(piped, []byte("import sys\nprint('got', input())\nprint('err', file=sys.stderr)\nsys.exit(3)\n"), 0o644)
	cmd := exec.Command(filepath.Join(binDir, "atod"), "run", "--language", "python",
		"--state", state, "--cgroup-name", "atod-e2e-run", "--uid-base", "2100000000", piped)
	cmd.Stdin = strings.NewReader("from a pipe\n")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || stdout.String() != "got from a pipe\n" || stderr.String() != "err\n" {
		t.Errorf("atod run < pipe: %v, stdout %q, stderr %q; want exit 3, stdout %q, stderr %q",
			err, stdout.String(), stderr.String(), "got from a pipe\n", "err\n")
	}
	sleeper := filepath.Join(dir, "sleep.py")
	os.WriteFile(sleeper, []byte("import time\ntime.sleep(30)\n"), 0o644)
	if out, code := atod(t, "run", "--language", "python", "--timeout", "1",
		"--state", state, "--cgroup-name", "atod-e2e-run", "--uid-base", "2100000000", sleeper); code != 124 {
		t.Errorf("atod run of a program that times out: exit %d, want 124 (as timeout(1))\n%s", code, out)
	}
	out, code = atod(t, "run", "--language", "ZSH", "--state", state, "--uid-base", "2100000000", prog)
	if code == 0 || !strings.Contains(out, "invalid request: no such language: ZSH") {
		t.Errorf("atod run with an unknown language: exit %d\n%s", code, out)
	}
}

func TestServeTellsWhatToDo(t *testing.T) {
	atodtest.NeedRoot(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no images", []string{"serve", "--images", "/nonexistent-atod-images"}, "atod rootfs build debian-12"},
		{"no init binary", []string{"serve", "--init", "/nonexistent/atod-init", "--state", "/tmp/atod-e2e-noinit"}, "make build"},
		{"bad flag value", []string{"serve", "--cpus", "0"}, "cpus must be"},
		{"bad config", []string{"serve", "--config", "/nonexistent/atod.json"}, "reading config"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := atod(t, tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output lacks %q:\n%s", code, tt.want, out)
			}
		})
	}
	os.RemoveAll("/tmp/atod-e2e-noinit")
}

// TestCheck: atod check says ok for a host that serves (one run included),
// FAIL with what to do and exit 1 for a configuration that could not serve,
// and only looks when a daemon runs with its configuration.
func TestCheck(t *testing.T) {
	atodtest.NeedRoot(t)
	state := daemonUser{}.stateDir(t)
	flags := []string{"--state", state, "--cgroup-name", "atod-e2e-check", "--uid-base", "2100000000"}
	out, code := atod(t, append([]string{"check"}, flags...)...)
	for _, row := range []string{"image store", "languages", "sandbox", "a run"} {
		if !regexp.MustCompile(`(?m)^` + row + ` +ok `).MatchString(out) {
			t.Errorf("no %q ok row", row)
		}
	}
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Errorf("atod check: exit %d\n%s", code, out)
	}
	out, code = atod(t, append([]string{"check", "--images", filepath.Join(t.TempDir(), "none")}, flags...)...)
	if code != 1 || !regexp.MustCompile(`(?m)^image store +FAIL .*atod rootfs build debian-12`).MatchString(out) {
		t.Errorf("atod check without an image store: exit %d\n%s", code, out)
	}
	// A store runs cannot reach: its parent searchable by its owner alone.
	private := filepath.Join(t.TempDir(), "private")
	os.MkdirAll(filepath.Join(private, "store", "trees"), 0o755)
	os.Chmod(private, 0o700)
	out, code = atod(t, append([]string{"check", "--images", filepath.Join(private, "store")}, flags...)...)
	if code != 1 || !regexp.MustCompile(`(?m)^image store +FAIL .*chmod o\+x `+regexp.QuoteMeta(private)).MatchString(out) {
		t.Errorf("atod check with a store runs cannot reach: exit %d\n%s", code, out)
	}
	d := startDaemon(t, daemonOptions{})
	out, code = atod(t, "check", "--state", d.state, "--cgroup-name", d.cgroup, "--uid-base", fmt.Sprint(e2eUIDBase))
	if code != 0 || !strings.Contains(out, "a daemon runs with this configuration") {
		t.Errorf("atod check beside a daemon: exit %d\n%s", code, out)
	}
	// Its state directory under another cgroup name (a check run from a
	// login shell, beside a daemon of a unit, takes the cgroup of neither):
	// only a look too, not a start that would clean the daemon's state.
	execute(t, d, job{language: "bash", code: "true"})
	awaitNewPoolMember(t, d, nil)
	out, code = atod(t, "check", "--state", d.state, "--cgroup-name", d.cgroup+"-other", "--uid-base", fmt.Sprint(e2eUIDBase))
	if code != 0 || !strings.Contains(out, "a daemon runs with this configuration") || !strings.Contains(out, "state directory") {
		t.Errorf("atod check on a running daemon's state directory: exit %d\n%s", code, out)
	}
	if r := execute(t, d, job{language: "bash", code: "echo still"}); string(r.Stdout) != "still\n" {
		t.Errorf("the daemon after atod check: %q", r.Stdout)
	}
}
