package server

import "sync"

// cappedBuffer is an io.Writer that keeps the first max bytes written to it
// and drops the rest. The sandbox cuts output at the same caps; the buffer
// holds to them too, so that no run can make the server hold more.
type cappedBuffer struct {
	mu  sync.Mutex // a run may write from more than one goroutine
	buf []byte
	max int
}

func newCappedBuffer(max int) *cappedBuffer { return &cappedBuffer{max: max} }

// Write keeps what fits and reports all of p written: cutting the output at
// the cap is the sandbox's job (it closes the program's pipe there); this
// only makes sure the server never holds more.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := p[:min(len(p), b.max-len(b.buf))]
	if len(keep) == 0 {
		return len(p), nil
	}
	if need := len(b.buf) + len(keep); need > cap(b.buf) {
		// Grow geometrically, but never past the cap.
		grown := make([]byte, len(b.buf), min(max(need, 2*cap(b.buf), 512), b.max))
		copy(grown, b.buf)
		b.buf = grown
	}
	b.buf = append(b.buf, keep...)
	return len(p), nil
}

// Bytes returns what was kept. The caller must not write to b afterwards.
func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}
