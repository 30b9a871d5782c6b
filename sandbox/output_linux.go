package sandbox

import (
	"errors"
	"io"
	"os"
)

// chunkSize is the largest piece of output handed to a Spec's writer at once
// (the v1 protocol's frame limit).
const chunkSize = 16 << 10

// copyCapped copies the run's output from r to w until EOF or until limit
// bytes have passed; then it closes r, so that the run's further writes fail
// with EPIPE (or SIGPIPE) instead of being produced and thrown away. It
// reports whether the output was cut. Memory stays at buf, one chunk,
// however much the run writes. w may be nil.
//
// Each read is handed on at once, as the service does: nothing waits for
// more output. One read of a pipe already takes all that the pipe holds, up
// to a chunk, so output that piles up while w is busy (a flood) still goes
// in full chunks.
func copyCapped(r *os.File, w io.Writer, limit int64, buf []byte) (truncated bool, err error) {
	defer r.Close()
	var total int64
	for {
		n, rerr := r.Read(buf)
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

// chunk returns an output buffer of chunkSize bytes from s's pool, and the
// function that gives it back: two a run, which were a quarter of the
// bytes a run allocated, and so of the daemon's garbage collections.
func (s *Sandbox) chunk() (buf []byte, put func()) {
	c, _ := s.chunks.Get().(*[chunkSize]byte)
	if c == nil {
		c = new([chunkSize]byte)
	}
	return c[:], func() { s.chunks.Put(c) }
}
