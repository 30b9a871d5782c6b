package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
)

// chunks records each Write it gets as one chunk.
type chunks struct{ got []string }

func (c *chunks) Write(p []byte) (int, error) {
	c.got = append(c.got, string(p))
	return len(p), nil
}

func (c *chunks) sizes() []int {
	var s []int
	for _, g := range c.got {
		s = append(s, len(g))
	}
	return s
}

// TestOutputIsHandedOnAsRead writes lines each only once the output pipe is
// empty (FIONREAD), that is once the sandbox has read all before it: each
// must reach the writer on its own, for nothing waits for more output.
func TestOutputIsHandedOnAsRead(t *testing.T) {
	sb := newSandbox(t, 1)
	var stdout chunks
	script := `python3 - <<'PY'
import fcntl, os, struct, termios
for i in range(8):
    while struct.unpack("i", fcntl.ioctl(1, termios.FIONREAD, bytes(4)))[0]:
        os.sched_yield()
    os.write(1, b"%d\n" % i)
PY`
	out := runScript(t, sb, script, timescale.D(30*time.Second), func(s *job.Spec) { s.Stdout = &stdout })
	var want []string
	for i := range 8 {
		want = append(want, fmt.Sprintf("%d\n", i))
	}
	if !slices.Equal(stdout.got, want) {
		t.Errorf("chunks %q, want one for each write: %q (%s, stderr %q)", stdout.got, want, out.res.Status, out.stderr.String())
	}
}

// TestOutputChunkSizes checks chunk sizes that do not depend on timing:
// what is in the pipe when the sandbox reads goes in full chunks. A pipe
// write that fits (a pipe holds 64 KiB) is never seen half done, so one
// write of 48 KiB is all there at once, and writes of 16 KiB leave only
// whole 16 KiB pieces. The caps cut as before.
func TestOutputChunkSizes(t *testing.T) {
	sb := newSandbox(t, 1)
	full := func(n int) []int { return slices.Repeat([]int{16 << 10}, n) }
	tests := []struct {
		script    string
		stderr    bool
		want      []int
		truncated bool
	}{
		{"dd if=/dev/zero bs=48k count=1 status=none", false, full(3), false},
		{"dd if=/dev/zero bs=16k count=64 status=none", false, full(8), true},    // 128 KiB cap
		{"dd if=/dev/zero bs=16k count=64 status=none >&2", true, full(2), true}, // 32 KiB cap
	}
	for _, tt := range tests {
		var c chunks
		out := runScript(t, sb, tt.script, timescale.D(10*time.Second), func(s *job.Spec) {
			s.Limits.StdoutBytes, s.Limits.StderrBytes = 128<<10, 32<<10
			if tt.stderr {
				s.Stderr = &c
			} else {
				s.Stdout = &c
			}
		})
		truncated := out.res.StdoutTruncated
		if tt.stderr {
			truncated = out.res.StderrTruncated
		}
		if !slices.Equal(c.sizes(), tt.want) || truncated != tt.truncated {
			t.Errorf("%s: chunks of %v bytes, truncated %v; want %v, truncated %v",
				tt.script, c.sizes(), truncated, tt.want, tt.truncated)
		}
	}
}
