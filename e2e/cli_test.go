package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
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
	out, code := atod(t, "run", "--language", "python", "--input", input, "--option", "-O",
		"--state", state, "--cgroup-name", "atod-e2e-run", "--uid-base", "2100000000", prog, "--timeout", "10", "--", "a b", "c")
	if code != 0 || !strings.Contains(out, "hello ['a b', 'c'] 1\n") || !strings.Contains(out, "-- exited/0") {
		t.Errorf("atod run: exit %d\n%s", code, out)
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
