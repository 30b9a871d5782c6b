package sandbox

import (
	"errors"
	"io"
	"os"
	"time"
)

const (
	// chunkSize is the largest piece of output handed to a Spec's writer at
	// once (the v1 protocol's frame limit).
	chunkSize = 16 << 10
	// coalesceWait is how long a chunk waits, from its first byte, for more
	// output before it is handed on: output written in a burst arrives in
	// full chunks, while any output arrives within a couple of milliseconds.
	coalesceWait = time.Millisecond
)

// copyCapped copies the run's output from r to w until EOF or until limit
// bytes have passed; then it closes r, so that the run's further writes fail
// with EPIPE (or SIGPIPE) instead of being produced and thrown away. It
// reports whether the output was cut. Memory stays at one chunk however much
// the run writes. w may be nil.
func copyCapped(r *os.File, w io.Writer, limit int64) (truncated bool, err error) {
	defer r.Close()
	buf := make([]byte, chunkSize)
	var total int64
	for {
		n, rerr := readChunk(r, buf)
		if n > 0 {
			keep := int64(n)
			if total+keep > limit {
				keep = limit - total
				truncated = true
			}
			if keep > 0 && w != nil {
				if _, werr := w.Write(buf[:keep]); werr != nil {
					return truncated, werr
				}
			}
			total += keep
			if truncated {
				return true, nil
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return false, nil
			}
			return false, rerr
		}
	}
}

// readChunk blocks until some output arrives, then gathers more into buf
// until buf is full or coalesceWait has passed since that first output.
func readChunk(r *os.File, buf []byte) (int, error) {
	if err := r.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	n, err := r.Read(buf)
	if err == nil && n < len(buf) {
		err = r.SetReadDeadline(time.Now().Add(coalesceWait))
	}
	for err == nil && n < len(buf) {
		var m int
		m, err = r.Read(buf[n:])
		n += m
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
