package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// nulTerminated is how the daemon writes /ATO/options and /ATO/arguments
// (sandbox's writer of the same name): every entry followed by a NUL.
func nulTerminated(entries []string) []byte {
	var b []byte
	for _, e := range entries {
		b = append(append(b, e...), 0)
	}
	return b
}

// FuzzYargs checks yargs' parsing: the file's entries (splitEntries) are
// exactly what the daemon wrote (a round trip through the daemon's writer,
// whatever the bytes), and the command (expand) is the given one with its
// first placeholder, and only that, replaced by the entries in order.
// command is NUL-separated, as argv is. The seed corpus is in
// testdata/fuzz/FuzzYargs.
func FuzzYargs(f *testing.F) {
	f.Add([]byte("-O\x00-u\x00"), "%1", []byte("python\x00%1\x00/ATO/code\x00%1"))
	f.Fuzz(func(t *testing.T, file []byte, placeholder string, command []byte) {
		orig := bytes.Clone(file)
		entries := splitEntries(file)
		if !bytes.Equal(file, orig) {
			t.Fatal("splitEntries modified its input")
		}
		// Every entry is a whole NUL-free argument, and writing them
		// back gives the file, with the last NUL added if it lacked it.
		want := file
		if len(file) > 0 && file[len(file)-1] != 0 {
			want = append(bytes.Clone(file), 0)
		}
		if got := nulTerminated(entries); !bytes.Equal(got, want) {
			t.Fatalf("entries %q written back are %q, want %q", entries, got, want)
		}
		for _, e := range entries {
			if strings.IndexByte(e, 0) >= 0 {
				t.Fatalf("entry %q holds a NUL", e)
			}
		}
		// The other way round: what the daemon writes reads back as is.
		if again := splitEntries(nulTerminated(entries)); !slices.Equal(again, entries) {
			t.Fatalf("entries %q read back as %q", entries, again)
		}
		if len(entries) > bytes.Count(file, []byte{0})+1 {
			t.Fatalf("%d entries from %d NULs", len(entries), bytes.Count(file, []byte{0}))
		}

		cmd := strings.Split(string(command), "\x00")
		cmdCopy := slices.Clone(cmd)
		out := expand(cmd, placeholder, entries)
		if !slices.Equal(cmd, cmdCopy) {
			t.Fatal("expand modified the command")
		}
		i := slices.Index(cmd, placeholder)
		if i < 0 {
			if !slices.Equal(out, cmd) {
				t.Fatalf("expand changed %q without a placeholder %q into %q", cmd, placeholder, out)
			}
			return
		}
		if len(out) != len(cmd)-1+len(entries) {
			t.Fatalf("expand(%q, %q, %q) = %q: %d arguments, want %d", cmd, placeholder, entries, out, len(out), len(cmd)-1+len(entries))
		}
		if !slices.Equal(out[:i], cmd[:i]) || !slices.Equal(out[i:i+len(entries)], entries) || !slices.Equal(out[i+len(entries):], cmd[i+1:]) {
			t.Fatalf("expand(%q, %q, %q) = %q", cmd, placeholder, entries, out)
		}
	})
}
