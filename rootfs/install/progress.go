package install

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/atod-project/atod/internal/term"
)

// ProgressPrinter shows an install's Progress to an operator: a line
// rewritten in place on a terminal (at most every 100 ms, and as each layer
// finishes), a line per finished layer otherwise. Its Update is a
// Progress.
type ProgressPrinter struct {
	w        io.Writer
	terminal bool
	last     time.Time
	shown    bool
}

// NewProgressPrinter returns a printer to f, which it asks whether it is a
// terminal.
func NewProgressPrinter(f *os.File) *ProgressPrinter {
	return &ProgressPrinter{w: f, terminal: term.IsTerminal(f)}
}

// Update shows u.
func (p *ProgressPrinter) Update(u Update) {
	short := strings.TrimPrefix(u.Digest, "sha256:")
	if len(short) > 12 {
		short = short[:12]
	}
	if !p.terminal {
		if u.Finished {
			fmt.Fprintf(p.w, "layer %d/%d %s: %s\n", u.Layer, u.Layers, short, mib(u.Done))
		}
		return
	}
	if !u.Finished && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	total := ""
	if u.Total > 0 {
		total = " of " + mib(u.Total)
	}
	state := ""
	if u.Finished {
		state = " done"
	}
	fmt.Fprintf(p.w, "\r\033[Klayer %d/%d %s: %s%s%s", u.Layer, u.Layers, short, mib(u.Done), total, state)
	p.shown = true
}

// Done ends the line rewritten in place, if there is one.
func (p *ProgressPrinter) Done() {
	if p.terminal && p.shown {
		fmt.Fprintln(p.w)
	}
}

func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
