package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the clients whose state clientLimits keeps
// (forgetLocked).
const maxClients = 10000

// clientLimits bounds what one client may ask of the server: runs at once
// (running or waiting for a slot) and requests a minute. A client is its
// bearer token when the API needs one, else its address (clientKey).
type clientLimits struct {
	mu        sync.Mutex
	runs      int // 0: no bound
	perMinute int // 0: no bound
	clients   map[string]*clientState
}

type clientState struct {
	active  int
	limiter *rate.Limiter // nil: no rate
}

// set changes the limits; clients known keep what they have used of their
// rate.
func (c *clientLimits) set(runs, perMinute int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs, c.perMinute = runs, perMinute
	for k, st := range c.clients {
		switch {
		case perMinute == 0:
			st.limiter = nil
		case st.limiter == nil:
			st.limiter = c.limiterLocked()
		default:
			st.limiter.SetLimit(rate.Every(time.Minute / time.Duration(perMinute)))
			st.limiter.SetBurst(perMinute)
		}
		if st.active == 0 && st.limiter == nil {
			delete(c.clients, k)
		}
	}
}

// limiterLocked is a client's rate: perMinute requests a minute, as many at
// once.
func (c *clientLimits) limiterLocked() *rate.Limiter {
	if c.perMinute == 0 {
		return nil
	}
	return rate.NewLimiter(rate.Every(time.Minute/time.Duration(c.perMinute)), c.perMinute)
}

// admit counts a request of client key: an error when it is past its rate
// or has as many runs as it may; otherwise release ends the run.
func (c *clientLimits) admit(key string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == 0 && c.perMinute == 0 {
		return func() {}, nil
	}
	if c.clients == nil {
		c.clients = make(map[string]*clientState)
	}
	st := c.clients[key]
	if st == nil {
		if len(c.clients) >= maxClients && !c.forgetLocked() {
			// Every client known has a run: a new one waits for one
			// of theirs to end.
			return nil, errClientBusy
		}
		st = &clientState{limiter: c.limiterLocked()}
		c.clients[key] = st
	}
	if st.limiter != nil && !st.limiter.Allow() {
		return nil, errClientRate
	}
	if c.runs > 0 && st.active >= c.runs {
		return nil, errClientBusy
	}
	st.active++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		st.active--
	}, nil
}

// forgetLocked makes room: it forgets the clients without a run whose rate
// is whole again (nothing of them differs from a new client's) and, if
// that leaves the map full, every client without a run (a bound on memory
// before a rate: such a client starts afresh). A sweep frees a quarter of
// the map at least, so that the next ones are far apart. It reports
// whether there is room.
func (c *clientLimits) forgetLocked() bool {
	now := time.Now()
	for k, st := range c.clients {
		if st.active == 0 && (st.limiter == nil || st.limiter.TokensAt(now) >= float64(st.limiter.Burst())) {
			delete(c.clients, k)
		}
	}
	for k, st := range c.clients {
		if len(c.clients) < maxClients*3/4 {
			break
		}
		if st.active == 0 {
			delete(c.clients, k)
		}
	}
	return len(c.clients) < maxClients
}

// clientKey names the client of r for its limits: its bearer token (a
// digest of it) when the API needs tokens, else its address; an IPv6
// address by its /64, which one host commonly has whole.
func (s *Server) clientKey(r *http.Request, addr string) string {
	if s.tokens.Load() != nil {
		if _, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
			sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
			return "token:" + hex.EncodeToString(sum[:8])
		}
	}
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + addr
}
