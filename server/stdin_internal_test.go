package server

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
)

// TestStdinBuffer: a run's stdin is bounded per run and for every run
// together; what is read, or dropped at the run's end, is given back to the
// server-wide count.
func TestStdinBuffer(t *testing.T) {
	var all atomic.Int64
	a, b := newStdinBuffer(&all), newStdinBuffer(&all)
	if err := a.Write(make([]byte, maxStdinPending)); err != nil {
		t.Fatal(err)
	}
	if err := a.Write([]byte{1}); !errors.Is(err, errStdinFlood) {
		t.Errorf("a byte past a run's bound: %v, want errStdinFlood", err)
	}
	// Fill the server's bound with other runs' stdin.
	others := make([]*stdinBuffer, 0, maxStdinPendingAll/maxStdinPending)
	for all.Load()+maxStdinPending <= maxStdinPendingAll {
		o := newStdinBuffer(&all)
		if err := o.Write(make([]byte, maxStdinPending)); err != nil {
			t.Fatal(err)
		}
		others = append(others, o)
	}
	if err := b.Write(make([]byte, maxStdinPending)); !errors.Is(err, errStdinFloods) {
		t.Errorf("past the server's bound: %v, want errStdinFloods", err)
	}
	buf := make([]byte, 1000)
	if n, err := a.Read(buf); n != 1000 || err != nil {
		t.Fatalf("Read: %d, %v", n, err)
	}
	if err := b.Write(make([]byte, 1000)); err != nil {
		t.Errorf("after 1000 bytes were read: %v", err)
	}
	a.CloseWrite()
	if n, _ := io.Copy(io.Discard, a); n != maxStdinPending-1000 {
		t.Errorf("read to the end after CloseWrite: %d bytes", n)
	}
	if n, err := a.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("after CloseWrite and all read: %d, %v; want EOF", n, err)
	}
	b.Close()
	for _, o := range others {
		o.Close()
	}
	if n := all.Load(); n != 0 {
		t.Errorf("the server's count after every run ended: %d, want 0", n)
	}
	if n, err := b.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("after Close: %d, %v; want EOF", n, err)
	}
}
