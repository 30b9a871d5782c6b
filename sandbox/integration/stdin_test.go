package integration

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
)

// lines is an io.Writer whose text so far can be waited for.
type lines struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

// await waits until the text written ends with want.
func (l *lines) await(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(timescale.D(20 * time.Second))
	for {
		l.mu.Lock()
		got := l.b.String()
		l.mu.Unlock()
		if strings.HasSuffix(got, want) {
			return
		}
		select {
		case <-l.changed:
		case <-deadline:
			t.Fatalf("output %q, waiting for %q", got, want)
		}
	}
}

// TestInteractiveStdin: an interactive run's /ATO/input is fed as the
// caller writes (a program answers each line before the next is sent),
// after the run's input; the caller's EOF is the program's.
func TestInteractiveStdin(t *testing.T) {
	sb := newSandbox(t, 1)
	stdin, feed := io.Pipe()
	out := newLines()
	done := make(chan *output, 1)
	go func() {
		o, err := runScriptErr(t.Context(), sb, testRootfs(t),
			`while read -r l; do echo "got $l"; done < /ATO/input; echo end`, timescale.D(30*time.Second),
			func(s *job.Spec) { s.Stdin, s.Stdout, s.Files.Input = stdin, out, []byte("first\n") })
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	out.await(t, "got first\n")
	for _, l := range []string{"second", "third"} {
		if _, err := io.WriteString(feed, l+"\n"); err != nil {
			t.Fatal(err)
		}
		out.await(t, "got "+l+"\n")
	}
	feed.Close()
	out.await(t, "end\n")
	if o := <-done; o != nil && o.res.Status.String() != "exited/0" {
		t.Errorf("result %+v", o.res)
	}
	stdin.Close()
	assertNoLeftovers(t, sb)
}

// TestInteractiveStdinOpenedLate: a run that opens its stdin after the
// caller's EOF still gets all of it, then the end.
func TestInteractiveStdinOpenedLate(t *testing.T) {
	sb := newSandbox(t, 1)
	out := runScript(t, sb, "sleep 1; cat < /ATO/input; echo end", timescale.D(30*time.Second), func(s *job.Spec) {
		s.Stdin, s.Files.Input = strings.NewReader("more\n"), []byte("input\n")
	})
	if got := out.stdout.String(); got != "input\nmore\nend\n" || out.res.Status.String() != "exited/0" {
		t.Errorf("stdout %q, %+v", got, out.res)
	}
}
