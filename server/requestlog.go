package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/atod-project/atod/sandbox/job"
)

// requestLog is what the one log line of an execute request says
// (logRequest): who asked, for what, how it ended and what it took. It
// never holds a program's code, input or output.
type requestLog struct {
	id        string // the request id, sent back as X-Request-Id
	client    string // the client's address (clientAddr)
	clientKey string // the client, for its limits (clientKey)
	api       string // v0, v1, http
	run       int    // v1: the request's number on its connection
	start     time.Time

	language string
	wait     time.Duration // for a run slot
	res      *job.Result   // nil: nothing ran
	logged   bool
}

type requestLogKey struct{}

// maxLoggedError is how much of a request's error its line keeps.
const maxLoggedError = 256

// withRequestLog is ctx carrying rl, which the run path fills in.
func withRequestLog(ctx context.Context, rl *requestLog) context.Context {
	return context.WithValue(ctx, requestLogKey{}, rl)
}

// requestLogOf is ctx's requestLog, or a throwaway one.
func requestLogOf(ctx context.Context) *requestLog {
	if rl, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		return rl
	}
	return &requestLog{}
}

// logRequest writes rl's line: outcome is the close code or HTTP status the
// client got (or "done": a v1 Done), err what failed, if anything.
func (s *Server) logRequest(rl *requestLog, outcome string, err error) {
	if rl.logged {
		return
	}
	rl.logged = true
	attrs := []any{"id", rl.id, "client", rl.client, "api", rl.api}
	if rl.run > 0 {
		attrs = append(attrs, "run", rl.run)
	}
	if rl.language != "" {
		attrs = append(attrs, "language", rl.language)
	}
	attrs = append(attrs, "outcome", outcome)
	if r := rl.res; r != nil {
		attrs = append(attrs, "status", r.Status.Type.String(), "status_value", r.Status.Value,
			"timed_out", r.TimedOut, "oom_killed", r.Stats.OOMKilled, "real", r.Stats.Real, "wait", rl.wait)
		if r.CPUTimeExceeded {
			attrs = append(attrs, "cpu_time_exceeded", true)
		}
	}
	attrs = append(attrs, "total", time.Since(rl.start))
	level := slog.LevelInfo
	if err != nil {
		// Cut: a refusal's reason may quote the client's request (its
		// language, say), as long as 64 KiB.
		msg := err.Error()
		if len(msg) > maxLoggedError {
			msg = msg[:maxLoggedError] + "..."
		}
		attrs = append(attrs, "err", msg)
		if !refused(err) && !errors.Is(err, errClientGone) {
			level = slog.LevelError
		}
	}
	s.log.Log(context.Background(), level, "request", attrs...)
}

// newRequestLog starts the log of a request to api: its id (a trusted
// proxy's X-Request-Id, else a new one), sent back as X-Request-Id, and
// its client.
func (s *Server) newRequestLog(w http.ResponseWriter, r *http.Request, api string) *requestLog {
	peer, trusted := s.peer(r)
	id := r.Header.Get("X-Request-Id")
	if !trusted || !validRequestID(id) {
		id = newRequestID()
	}
	w.Header().Set("X-Request-Id", id)
	client := s.clientAddr(r, peer, trusted)
	return &requestLog{id: id, client: client, clientKey: s.clientKey(r, client), api: api, start: time.Now()}
}

// peer is the address of the connection's other end, and whether it is one
// of the trusted proxies.
func (s *Server) peer(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	a := ap.Addr().Unmap()
	return a, s.trusts(a)
}

func (s *Server) trusts(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address: the peer's, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not one (the
// one the first trusted proxy saw; those before it the client could write).
func (s *Server) clientAddr(r *http.Request, peer netip.Addr, trusted bool) string {
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !trusted {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !s.trusts(client) {
			break
		}
	}
	return client.String()
}

// validRequestID reports whether a proxy's request id may be taken as it is:
// 1 to 64 letters, digits, '.', '_' or '-' (nothing a log could be misled by).
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseTrustedProxies parses addresses and CIDR prefixes of the proxies
// whose X-Forwarded-For and X-Request-Id are believed.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &net.ParseError{Type: "trusted proxy (an address or a CIDR prefix)", Text: s}
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
