package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// runYargs implements /ATO/yargs. It only returns on failure: on success the
// process is replaced by the program.
func runYargs(args []string) int {
	argv, code := resolveYargs(args, isSelf)
	if code != 0 {
		return code
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fail(127, "%s: command not found", argv[0])
		}
		return fail(126, "%v", err)
	}
	err = syscall.Exec(path, argv, os.Environ())
	return fail(126, "executing %s: %v", argv[0], err)
}

// resolveYargs expands args as yargs does, and again for as long as the
// program is yargs itself (self says so): runners chain it, one
// placeholder each (yargs %2 /ATO/arguments yargs %1 /ATO/options prog ...),
// and doing each link here rather than exec'ing yargs anew saves a
// program start per link on every run, with the same result. It returns the
// final command, or the exit code of a failure.
func resolveYargs(args []string, self func(string) bool) ([]string, int) {
	for {
		if len(args) < 3 {
			return nil, fail(2, "usage: yargs PLACEHOLDER FILE prog [args...]")
		}
		placeholder, file, command := args[0], args[1], args[2:]
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fail(2, "reading %s: %v", file, err)
		}
		argv := expand(command, placeholder, splitEntries(data))
		if len(argv) == 0 {
			return nil, fail(2, "nothing to run: the placeholder was the program and %s is empty", file)
		}
		if !self(argv[0]) {
			return argv, 0
		}
		args = argv[1:]
	}
}

// isSelf reports whether the program name runs this very binary (as
// /ATO/yargs does).
func isSelf(name string) bool {
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	a, err1 := os.Stat(path)
	b, err2 := os.Stat("/proc/self/exe")
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// splitEntries splits NUL-terminated entries. A final entry without its NUL
// still counts; an empty file has no entries.
func splitEntries(data []byte) []string {
	var entries []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			entries = append(entries, string(data))
			break
		}
		entries = append(entries, string(data[:i]))
		data = data[i+1:]
	}
	return entries
}

// expand returns command with its first element equal to placeholder
// replaced by entries (and nothing when there are none). A command without
// the placeholder is returned unchanged.
func expand(command []string, placeholder string, entries []string) []string {
	for i, arg := range command {
		if arg != placeholder {
			continue
		}
		out := make([]string, 0, len(command)-1+len(entries))
		out = append(out, command[:i]...)
		out = append(out, entries...)
		return append(out, command[i+1:]...)
	}
	return command
}
