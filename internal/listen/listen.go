// Package listen keeps a listener accepting through failures that are the
// host's, not the listener's.
package listen

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// KeepAccepting wraps ln so that Accept rides out errors the host's
// resources cause instead of returning them: http.Server.Serve returns on
// any error it does not count as temporary, and the daemon with it. Among
// them is ENOSPC from registering the new connection with epoll, whose
// watches count against the daemon's user, which a rootless daemon's runs
// are too (fs.epoll.max_user_watches): a run could otherwise end the
// daemon by taking them all. Such errors are logged, at most once a
// second, and retried after a pause that grows to a second; an error of
// the listener itself (closed, say) still ends Accept.
func KeepAccepting(ln net.Listener, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &keepAccepting{Listener: ln, log: log}
}

type keepAccepting struct {
	net.Listener
	log *slog.Logger
}

const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = time.Second
)

func (l *keepAccepting) Accept() (net.Conn, error) {
	pause := acceptPauseMin
	var logged time.Time
	for {
		c, err := l.Listener.Accept()
		if err == nil || !acceptFailureIsTheHosts(err) {
			return c, err
		}
		if time.Since(logged) >= time.Second {
			l.log.Warn("accepting a connection failed for want of a host resource: retrying", "err", err)
			logged = time.Now()
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
