package server

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/atod-project/atod/protocol"
)

// maxStdinPending bounds the stdin an interactive run's client has sent and
// its program has not read yet (beyond what its stdin pipe holds: 64 KiB,
// or up to 1 MiB if the program grows it): one more byte closes the
// connection (errStdinFlood). maxStdinPendingAll bounds it for every run
// of the server together, runs waiting for a slot included, whose clients
// may send stdin from the start.
const (
	maxStdinPending    = 1 << 20
	maxStdinPendingAll = 64 << 20
)

// errStdinFlood: a client sent more stdin than its program read;
// errStdinFloods: the server holds as much stdin as it may.
var (
	errStdinFlood = &refusal{protocol.ClosePolicyViolation,
		"stdin: more than " + strconv.Itoa(maxStdinPending) + " bytes wait for the program to read them"}
	errStdinFloods = &refusal{protocol.CloseTryAgainLater,
		"stdin: the server holds as much stdin not read yet as it may; try again later"}
	// errStdinTooBig: a Stdin message larger than a request may be.
	errStdinTooBig = &refusal{protocol.CloseMessageTooBig,
		"stdin: a Stdin message may be at most " + strconv.Itoa(protocol.MaxRequestSize) + " bytes"}
)

// stdinBuffer is an interactive run's stdin between the connection and the
// sandbox (job.Spec.Stdin): the connection's reader Writes what Stdin
// messages bring, without ever waiting (so that it goes on reading Kill),
// up to maxStdinPending bytes; the sandbox Reads.
type stdinBuffer struct {
	mu      sync.Mutex
	more    *sync.Cond
	pending []byte
	closed  bool          // CloseStdin: EOF once pending is read
	ended   bool          // the run is over: EOF now
	all     *atomic.Int64 // every run's pending bytes (the server's)
}

func newStdinBuffer(all *atomic.Int64) *stdinBuffer {
	b := &stdinBuffer{all: all}
	b.more = sync.NewCond(&b.mu)
	return b
}

// Write queues p; past a bound it queues nothing and fails.
func (b *stdinBuffer) Write(p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.ended {
		return nil // after CloseStdin: dropped, like any other message
	}
	if len(b.pending)+len(p) > maxStdinPending {
		return errStdinFlood
	}
	if b.all.Add(int64(len(p))) > maxStdinPendingAll {
		b.all.Add(-int64(len(p)))
		return errStdinFloods
	}
	b.pending = append(b.pending, p...)
	b.more.Signal()
	return nil
}

// CloseWrite ends stdin once what is queued is read (CloseStdin).
func (b *stdinBuffer) CloseWrite() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.more.Signal()
}

// Close ends stdin at once: the run is over.
func (b *stdinBuffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = true
	b.all.Add(-int64(len(b.pending)))
	b.pending = nil
	b.more.Signal()
}

// Read waits for stdin.
func (b *stdinBuffer) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.pending) == 0 && !b.closed && !b.ended {
		b.more.Wait()
	}
	if b.ended || len(b.pending) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	b.all.Add(-int64(n))
	if len(b.pending) == 0 {
		b.pending = nil // the next Write starts a new array, not this one's tail
	}
	return n, nil
}

// errInteractiveHTTP: the HTTP API has no messages to bring stdin.
var errInteractiveHTTP = errors.New("interactive: the HTTP API has no stdin messages; use the v1 websocket")
