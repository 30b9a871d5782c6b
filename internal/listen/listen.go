// Package listen keeps a listener accepting through failures that are the
// host's, not the listener's.
package listen

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// KeepAccepting wraps ln so that Accept rides out errors the host's
// resources cause instead of returning them: http.Server.Serve returns on
// any error it does not count as temporary, and the daemon with it. Among
// them is ENOSPC from registering the new connection with epoll, whose
// watches count against the daemon's user, which a rootless daemon's runs
// are too (fs.epoll.max_user_watches): a run could otherwise end the
// daemon by taking them all. The connection that failed is lost (the
// kernel had accepted it; Go closes it); such failures are logged, at most
// once a second, and Accept goes on after a pause that grows to a second.
// An error of the listener itself (closed, say) still ends Accept.
func KeepAccepting(ln net.Listener, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &keepAccepting{Listener: ln, log: log}
}

type keepAccepting struct {
	net.Listener
	log    *slog.Logger
	logged atomic.Int64 // when a failure was last logged, in Unix nanoseconds
}

const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = time.Second
)

func (l *keepAccepting) Accept() (net.Conn, error) {
	pause := acceptPauseMin
	for {
		c, err := l.Listener.Accept()
		if err == nil || !acceptFailureIsTheHosts(err) {
			return c, err
		}
		if now := time.Now().UnixNano(); now-l.logged.Load() >= int64(time.Second) {
			l.logged.Store(now)
			l.log.Warn("a connection was lost for want of a host resource: accepting the next", "err", err)
		}
		time.Sleep(pause)
		pause = min(2*pause, acceptPauseMax)
	}
}

// acceptFailureIsTheHosts reports whether err is a failure to take one
// connection in for want of a host resource (descriptors, memory, epoll
// watches) or because the client went first: that connection is lost, the
// listener goes on.
func acceptFailureIsTheHosts(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOSPC, syscall.ENOMEM, syscall.ENOBUFS, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
