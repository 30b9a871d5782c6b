package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

func TestParseTokens(t *testing.T) {
	for _, c := range []struct{ file, err string }{
		{"# ours\n\n  0123456789abcdef  \nfedcba9876543210\n", ""},
		{"", "no token"},
		{"# only a comment\n", "no token"},
		{"short\n", "line 1: a token must be at least 16 bytes"},
		{"0123456789abcdef\n0123456789 abcdef\n", "line 2: a token is printable ASCII"},
	} {
		_, err := server.ParseTokens([]byte(c.file))
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseTokens(%q) = %v, want %q", c.file, err, c.err)
		}
	}
}

// TestTokens: with tokens, the API answers 401 (and a websocket upgrade is
// refused) without a valid bearer token, before any work; /healthz needs
// none; SetSettings without tokens opens the API again.
func TestTokens(t *testing.T) {
	tokens, err := server.ParseTokens([]byte("0123456789abcdef\nfedcba9876543210\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, nil, func(o *server.Options) { o.Tokens = tokens })
	get := func(path, auth string) *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/api/v0/metadata", "", 401},
		{"/api/v0/metadata", "Bearer 0123456789abcdeX", 401},
		{"/api/v0/metadata", "Basic 0123456789abcdef", 401},
		{"/api/v0/metadata", "Bearer 0123456789abcdef", 200},
		{"/api/v1/metadata", "bearer fedcba9876543210", 200},
		{"/healthz", "", 200},
	} {
		resp := get(c.path, c.auth)
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with %q: %d, want %d", c.path, c.auth, resp.StatusCode, c.want)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="atod"` {
			t.Errorf("401 without WWW-Authenticate: %v", resp.Header)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + executePath
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("a websocket without a token: %v, %v; want a refused upgrade, 401", err, resp)
	}
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer fedcba9876543210"}}})
	if err != nil {
		t.Fatalf("a websocket with a token: %v", err)
	}
	if out := exchange(t, conn, websocket.MessageBinary, validRequest(langBash).Bytes()); out.result == nil {
		t.Errorf("a run with a token: %+v", out)
	}
	if ts.runner.calls.Load() != 1 {
		t.Errorf("%d runs, want the one with a token", ts.runner.calls.Load())
	}
	if err := ts.srv.SetSettings(server.Settings{}); err != nil {
		t.Fatal(err)
	}
	if resp := get("/api/v0/metadata", ""); resp.StatusCode != 200 {
		t.Errorf("without tokens: %d", resp.StatusCode)
	}
}

// TestAllowedOrigins: with a list, browser pages of other origins are
// refused (403, a websocket upgrade too); programs (no Origin) and the
// server's own origin are not; without one, every origin may.
func TestAllowedOrigins(t *testing.T) {
	ts := newTestServer(t, nil, func(o *server.Options) { o.AllowedOrigins = []string{"*.example.com"} })
	status := func(origin string) int {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v0/metadata", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for origin, want := range map[string]int{
		"":                                      200,
		"https://golf.example.com":              200,
		"https://evil.test":                     403,
		"https://example.com.evil":              403,
		"not a url":                             403,
		"http://" + ts.Listener.Addr().String(): 200,
	} {
		if got := status(origin); got != want {
			t.Errorf("Origin %q: %d, want %d", origin, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + executePath
	if _, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.test"}}}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("a websocket from another origin: %v, %v; want 403", err, resp)
	}
	if err := ts.srv.SetSettings(server.Settings{}); err != nil {
		t.Fatal(err)
	}
	if got := status("https://evil.test"); got != 200 {
		t.Errorf("without a list: %d", got)
	}
}

// TestSetSettingsAllOrNothing: settings with one bad value change nothing.
func TestSetSettingsAllOrNothing(t *testing.T) {
	var seen job.Limits
	runner := &fakeRunner{run: func(_ context.Context, spec job.Spec) (job.Result, error) {
		seen = spec.Limits
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner, func(o *server.Options) { o.Limits.MemoryBytes = 64 << 20 })
	err := ts.srv.SetSettings(server.Settings{Limits: job.Limits{MemoryBytes: 2 << 20}, MaxWaiting: 9, AllowedOrigins: []string{"["}})
	if err == nil {
		t.Fatal("a bad origin pattern was taken")
	}
	exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(langBash).Bytes())
	if seen.MemoryBytes != 64<<20 {
		t.Errorf("a run after refused settings has a memory limit of %d, want the old %d", seen.MemoryBytes, 64<<20)
	}
}
