package install

import (
	"bytes"
	"os"
	"syscall"
	"testing"
)

// TestProgressPrinter: off a terminal, one line per finished layer; on one,
// a line rewritten in place that Done ends.
func TestProgressPrinter(t *testing.T) {
	digest := "sha256:0123456789abcdef0123"
	updates := []Update{
		{Layer: 1, Layers: 2, Digest: digest, Total: 3 << 20},
		{Layer: 1, Layers: 2, Digest: digest, Done: 3 << 20, Total: 3 << 20, Finished: true},
		{Layer: 2, Layers: 2, Digest: digest, Done: 1 << 20, Finished: true},
	}

	var plain bytes.Buffer
	p := &ProgressPrinter{w: &plain}
	for _, u := range updates {
		p.Update(u)
	}
	p.Done()
	if want := "layer 1/2 0123456789ab: 3.0 MiB\nlayer 2/2 0123456789ab: 1.0 MiB\n"; plain.String() != want {
		t.Errorf("off a terminal:\n%q\nwant\n%q", plain.String(), want)
	}

	var term bytes.Buffer
	p = &ProgressPrinter{w: &term, terminal: true}
	for _, u := range updates {
		p.Update(u)
	}
	p.Done()
	want := "\r\033[Klayer 1/2 0123456789ab: 0.0 MiB of 3.0 MiB" +
		"\r\033[Klayer 1/2 0123456789ab: 3.0 MiB of 3.0 MiB done" +
		"\r\033[Klayer 2/2 0123456789ab: 1.0 MiB done\n"
	if term.String() != want {
		t.Errorf("on a terminal:\n%q\nwant\n%q", term.String(), want)
	}
}

// TestProgressPrinterDetectsTerminal: a terminal (a pseudo-terminal's
// master) gets the line rewritten in place, a file that is none lines.
func TestProgressPrinterDetectsTerminal(t *testing.T) {
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer pty.Close()
	if p := NewProgressPrinter(pty); !p.terminal {
		t.Error("a pseudo-terminal was not taken for a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := NewProgressPrinter(f); p.terminal {
		t.Error("a regular file was taken for a terminal")
	}
}
