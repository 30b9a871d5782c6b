package listen

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

// failing is a listener whose Accept returns errs in turn, then conn.
type failing struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (f *failing) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return f.conn, nil
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("epollctl", errno)}
}

func TestKeepAcceptingRidesOutTheHostsFailures(t *testing.T) {
	conn, peer := net.Pipe()
	defer conn.Close()
	defer peer.Close()
	ln := KeepAccepting(&failing{errs: []error{acceptErr(syscall.ENOSPC), acceptErr(syscall.EMFILE), acceptErr(syscall.ECONNABORTED)}, conn: conn}, nil)
	c, err := ln.Accept()
	if err != nil || c != conn {
		t.Errorf("Accept after three failures of the host = %v, %v; want the next connection", c, err)
	}
}

func TestKeepAcceptingReturnsTheListenersErrors(t *testing.T) {
	for _, want := range []error{net.ErrClosed, acceptErr(syscall.EINVAL)} {
		ln := KeepAccepting(&failing{errs: []error{want}}, nil)
		if c, err := ln.Accept(); !errors.Is(err, want) {
			t.Errorf("Accept = %v, %v; want %v", c, err, want)
		}
	}
}
