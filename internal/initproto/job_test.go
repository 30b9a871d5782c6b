package initproto

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestJobEncoding: the wire format cmd/atod-init splits (its tests run it on
// jobs this encodes): the count of the command's entries, then every entry,
// each NUL-terminated.
func TestJobEncoding(t *testing.T) {
	var b bytes.Buffer
	j := Job{Command: []string{"/ATO/bash", "/ATO/runner", ""}, Env: []string{"PATH=/usr/bin:/bin", "EMPTY="}}
	if err := WriteJob(&b, j); err != nil {
		t.Fatal(err)
	}
	if want := "3\x00/ATO/bash\x00/ATO/runner\x00\x00PATH=/usr/bin:/bin\x00EMPTY=\x00"; b.String() != want {
		t.Errorf("encoded %q, want %q", b.String(), want)
	}
	// A name given twice keeps its last value, in its first place.
	b.Reset()
	if err := WriteJob(&b, Job{Command: []string{"x"}, Env: []string{"A=1", "B=2", "A=3"}}); err != nil {
		t.Fatal(err)
	}
	if want := "1\x00x\x00A=3\x00B=2\x00"; b.String() != want {
		t.Errorf("encoded %q, want %q", b.String(), want)
	}
	// Handed over ahead: an empty entry ends it, where the environment
	// has none.
	held, err := Job{Command: []string{"x", ""}, Env: []string{"A=1"}}.EncodeHeld()
	if want := "2\x00x\x00\x00A=1\x00\x00"; err != nil || string(held) != want {
		t.Errorf("held: encoded %q, %v; want %q", held, err, want)
	}
}

// TestJobRefused: what the format cannot carry, or init would refuse, is
// never written.
func TestJobRefused(t *testing.T) {
	for name, j := range map[string]Job{
		"no command":               {Env: []string{"A=b"}},
		"a NUL in the command":     {Command: []string{"a\x00b"}},
		"a NUL in the environment": {Command: []string{"x"}, Env: []string{"A=b\x00c"}},
		"an entry without =":       {Command: []string{"x"}, Env: []string{"NOEQUALS"}},
		"an entry without a name":  {Command: []string{"x"}, Env: []string{"=x"}},
		"more than init takes":     {Command: []string{"x"}, Env: []string{"A=" + strings.Repeat("a", MaxJobSize)}},
	} {
		if err := WriteJob(io.Discard, j); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}
