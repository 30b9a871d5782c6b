package inittest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzYargs runs yargs on any file and command line: the program runs with
// its first argument equal to the placeholder, and only that, replaced by
// the file's entries exactly as the daemon writes them (NUL-terminated; a
// last one without its NUL counts), and every other argument as it was.
// command is NUL-separated, as argv is. The seed corpus is in
// testdata/fuzz/FuzzYargs.
func FuzzYargs(f *testing.F) {
	f.Add([]byte("-O\x00-u\x00"), "%1", []byte("python\x00%1\x00/ATO/code\x00%1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, placeholder string, command []byte) {
		if strings.IndexByte(placeholder, 0) >= 0 || slices.Contains(printArgs, placeholder) {
			t.Skip("not an argument, or the program under test")
		}
		path := filepath.Join(dir, "entries")
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := strings.Split(string(command), "\x00")
		var entries []string
		if len(file) > 0 {
			entries = strings.Split(string(bytes.TrimSuffix(file, []byte{0})), "\x00")
		}
		want := cmd
		if i := slices.Index(cmd, placeholder); i >= 0 {
			want = slices.Concat(cmd[:i], entries, cmd[i+1:])
		}
		out, stderr, code := yargs(t, append(append([]string{placeholder, path}, printArgs...), cmd...)...)
		got, ok := printed(out)
		if code != 0 || !ok || !slices.Equal(got, want) {
			t.Fatalf("yargs %q on %q with %q: %q (exit %d, stderr %q), want %q", placeholder, file, cmd, got, code, stderr, want)
		}
	})
}
