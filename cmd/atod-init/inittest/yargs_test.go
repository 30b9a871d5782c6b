package inittest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// printArgs is a program that writes its arguments after the first, each
// followed by a NUL: the end of a yargs command line under test, so that the
// test sees the arguments yargs executed it with.
var printArgs = []string{"/usr/bin/printf", `%s\0`, "argv:"}

// yargs runs atod-init as yargs with args, and returns what it printed, its
// stderr and its exit code.
func yargs(t testing.TB, args ...string) (stdout []byte, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(initPath, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.Bytes(), errOut.String(), cmd.ProcessState.ExitCode()
}

// printed is what printArgs printed: its arguments, or nil with ok false
// when it did not run.
func printed(out []byte) (args []string, ok bool) {
	s, ok := strings.CutPrefix(string(out), "argv:\x00")
	if !ok {
		return nil, false
	}
	args = strings.SplitAfter(s, "\x00")
	args = args[:len(args)-1] // after the last NUL: nothing
	for i := range args {
		args[i] = strings.TrimSuffix(args[i], "\x00")
	}
	return args, true
}

func writeFile(t testing.TB, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestYargs: the first argument equal to the placeholder, and only that, is
// replaced by the file's NUL-terminated entries (a last one without its NUL
// counts; an empty file has none).
func TestYargs(t *testing.T) {
	tests := []struct {
		name, file string
		command    []string
		want       []string
	}{
		{"replaces first only", "-O\x00-u\x00", []string{"%1", "code", "%1"}, []string{"-O", "-u", "code", "%1"}},
		{"no entries removes placeholder", "", []string{"%1", "code"}, []string{"code"}},
		{"no placeholder unchanged", "x\x00", []string{"code"}, []string{"code"}},
		{"empty entries kept", "a\x00\x00b\x00", []string{"%1"}, []string{"a", "", "b"}},
		{"last entry without NUL", "a\x00tail", []string{"%1"}, []string{"a", "tail"}},
		{"spaces are no separators", "a b\x00", []string{"%1"}, []string{"a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "entries", tt.file)
			out, stderr, code := yargs(t, append(append([]string{"%1", file}, printArgs...), tt.command...)...)
			got, ok := printed(out)
			if code != 0 || !ok || !slices.Equal(got, tt.want) {
				t.Errorf("got %q (exit %d, ran: %v, stderr %q), want %q", got, code, ok, stderr, tt.want)
			}
		})
	}
}

// TestYargsChain: a chain of yargs links is expanded as exec'ing each link
// would, stopping at the first program that is not yargs itself, which is
// left unexpanded beyond its own link.
func TestYargsChain(t *testing.T) {
	opts, argsFile := writeFile(t, "options", "-O\x00-u\x00"), writeFile(t, "arguments", "a b\x00c\x00")
	out, stderr, code := yargs(t, append(append([]string{"%2", argsFile, initPath, "%1", opts}, printArgs...), "%1", "/ATO/code", "%2")...)
	if got, ok := printed(out); code != 0 || !ok || !slices.Equal(got, []string{"-O", "-u", "/ATO/code", "a b", "c"}) {
		t.Errorf("chain: %q (exit %d, stderr %q)", got, code, stderr)
	}
	// A link whose file is missing fails as yargs would.
	if _, stderr, code := yargs(t, "%2", argsFile, initPath, "%1", filepath.Join(t.TempDir(), "none"), "true"); code != 2 || !strings.Contains(stderr, "reading") {
		t.Errorf("a missing file in the second link: exit %d, stderr %q; want 2", code, stderr)
	}
	// env is not yargs: the yargs after it is an argument, and %2 stays.
	out, _, _ = yargs(t, append([]string{"%1", opts, "env"}, append(printArgs, "%1", initPath, "%2")...)...)
	if got, _ := printed(out); !slices.Equal(got, []string{"-O", "-u", initPath, "%2"}) {
		t.Errorf("a program that is not yargs: %q", got)
	}
}

// TestYargsFailures: the shell's exit codes (127: no such command, 126:
// not runnable), 2 for yargs' own usage and files, each with a message.
func TestYargsFailures(t *testing.T) {
	file := writeFile(t, "entries", "")
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"too few arguments", []string{"%1", file}, 2, "usage"},
		{"missing file", []string{"%1", filepath.Join(t.TempDir(), "none"), "true"}, 2, "reading"},
		{"nothing to run", []string{"%1", file, "%1"}, 2, "nothing to run"},
		{"no such command", []string{"%1", file, "no-such-command-atod"}, 127, "command not found"},
		{"no such file", []string{"%1", file, "/no/such/file"}, 127, "command not found"},
		{"a directory", []string{"%1", file, "/tmp"}, 126, "/tmp"},
		{"not executable", []string{"%1", file, file}, 126, file},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, stderr, code := yargs(t, tt.args...); code != tt.code || !strings.HasPrefix(stderr, "yargs: ") || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestYargsPathLookup: a command without a slash is looked up in the
// absolute directories of PATH only, as Go's exec.LookPath did: a program
// in the current directory (a run's /ATO/context, which it writes) is never
// found through an empty or relative entry, and no PATH finds nothing.
func TestYargsPathLookup(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"prog", "bin/prog"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := writeFile(t, "entries", "")
	for _, path := range []string{"PATH=", "PATH=.", "PATH=:/usr/bin", "PATH=./:/bin", "PATH=bin"} {
		cmd := exec.Command(initPath, "%1", file, "prog")
		cmd.Dir, cmd.Env = dir, []string{path}
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 127 || strings.Contains(string(out), "ran") {
			t.Errorf("%s: exit %d, output %q; want 127, not found", path, code, out)
		}
	}
	cmd := exec.Command(initPath, "%1", file, "prog")
	cmd.Dir, cmd.Env = dir, []string{"PATH=/nonexistent:" + dir}
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "ran\n" {
		t.Errorf("an absolute entry: %q, %v", out, err)
	}
}
