package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// minTokenBytes is the shortest bearer token accepted in a token file: a
// guessable token protects nothing.
const minTokenBytes = 16

// Tokens are the bearer tokens that may use the API (ParseTokens). They are
// kept as SHA-256 sums, compared in constant time.
type Tokens struct {
	sums [][sha256.Size]byte
}

// ParseTokens reads a token file: one token per line; blank lines and lines
// starting with # are ignored, as is space around a token. A token is at
// least 16 bytes of printable ASCII without spaces. A file with none is an
// error: it would lock every client out.
func ParseTokens(b []byte) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < minTokenBytes {
			return nil, fmt.Errorf("token file: line %d: a token must be at least %d bytes", n, minTokenBytes)
		}
		for _, c := range []byte(line) {
			if c <= ' ' || c > '~' {
				return nil, fmt.Errorf("token file: line %d: a token is printable ASCII without spaces", n)
			}
		}
		t.sums = append(t.sums, sha256.Sum256([]byte(line)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if len(t.sums) == 0 {
		return nil, fmt.Errorf("token file: no token in it")
	}
	return t, nil
}

// allows reports whether the Authorization header value h carries one of
// the tokens.
func (t *Tokens) allows(h string) bool {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	found := 0
	for _, s := range t.sums {
		found |= subtle.ConstantTimeCompare(sum[:], s[:])
	}
	return found == 1
}

// authorized checks the bearer token of a request to the API (/api/...),
// when the server has tokens: without a valid one the client gets 401 and
// nothing else is done.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	t := s.tokens.Load()
	if t == nil || !strings.HasPrefix(r.URL.Path, "/api/") || t.allows(r.Header.Get("Authorization")) {
		return true
	}
	s.record.Refused(apiOf(r.URL.Path), http.StatusUnauthorized)
	w.Header().Set("WWW-Authenticate", `Bearer realm="atod"`)
	writeHTTPError(w, s.log, prefersMsgpack(r.Header.Get("Accept"), false), http.StatusUnauthorized,
		"unauthorized: this server needs a bearer token (Authorization: Bearer TOKEN)")
	return false
}

// apiOf names the API of an /api/ path, as metrics count it.
func apiOf(path string) string {
	switch path {
	case "/api/v0/ws/execute":
		return "v0"
	case "/api/v1/ws/execute":
		return "v1"
	case "/api/v1/execute":
		return "http"
	default:
		return "metadata"
	}
}

// originAllowed reports whether a request's Origin may use the API: any
// request without one (a program, not a browser page), one from the
// server's own host, and, when the operator lists origins
// (Settings.AllowedOrigins), those whose host matches a pattern
// (path.Match: "*.example.com"); with no list, every origin.
func (s *Server) originAllowed(r *http.Request) bool {
	patterns := s.origins.Load()
	origin := r.Header.Get("Origin")
	if patterns == nil || len(*patterns) == 0 || origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	if host == strings.ToLower(r.Host) {
		return true
	}
	for _, p := range *patterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}

// allowedOrigin refuses, with 403, a request to the API from a browser
// page of an origin the operator did not list.
func (s *Server) allowedOrigin(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/") || s.originAllowed(r) {
		return true
	}
	s.record.Refused(apiOf(r.URL.Path), http.StatusForbidden)
	writeHTTPError(w, s.log, prefersMsgpack(r.Header.Get("Accept"), false), http.StatusForbidden,
		"forbidden: this server takes no requests from pages of origin "+r.Header.Get("Origin"))
	return false
}
