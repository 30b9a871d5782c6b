package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/server"
)

// health GETs path and decodes its JSON body.
func health(t *testing.T, ts *testServer, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: %q: %v", path, b, err)
	}
	return resp.StatusCode, body
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t, nil, func(o *server.Options) { o.Version = version.Info{Version: "v1.2.3", Revision: "abc", Go: "go1.26"} })
	code, body := health(t, ts, "/healthz")
	v, _ := body["version"].(map[string]any)
	if code != 200 || body["status"] != "ok" || v["version"] != "v1.2.3" || v["revision"] != "abc" {
		t.Errorf("/healthz: %d %v", code, body)
	}
}

func TestReadyz(t *testing.T) {
	only := func(ids ...string) func(*server.Options) {
		return func(o *server.Options) {
			all := newFakeCatalogue()
			c := &fakeCatalogue{langs: map[string]runners.Language{}, scripts: map[string][]byte{}}
			for _, id := range ids {
				c.langs[id] = all.langs[id]
				if script, ok := all.scripts[id]; ok {
					c.scripts[id] = script
				}
			}
			o.Catalogue = c
		}
	}
	for _, c := range []struct {
		name   string
		opts   []func(*server.Options)
		code   int
		status string
		langs  float64
	}{
		// The broken image's store failure does not make a server whose
		// other languages run unready.
		{"all", nil, 200, "ready", 2},
		{"no image", []func(*server.Options){only(langNoImage, langNoScript)}, 503, "no language can run", 0},
		{"store failing", []func(*server.Options){only(langNoImage, langBrokenImg)}, 503, "image store unreadable", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, nil, c.opts...)
			code, body := health(t, ts, "/readyz")
			if code != c.code || body["status"] != c.status || (body["languages"] != nil && body["languages"] != c.langs) {
				t.Errorf("/readyz: %d %v, want %d %q with %v languages", code, body, c.code, c.status, c.langs)
			}
		})
	}
}

// TestDrain: a draining server is not ready, closes an idle v1 connection
// with 1001, refuses a v0 request that comes after it began (1001) and an
// HTTP one (503), and is drained once nothing is served.
func TestDrain(t *testing.T) {
	ts := newTestServer(t, nil)
	idle := ts.dial(t, "/api/v1/ws/execute")
	late := ts.dial(t, executePath) // connected, its request not sent yet
	ts.srv.Drain()
	if code, body := health(t, ts, "/readyz"); code != 503 || body["status"] != "server shutting down" {
		t.Errorf("/readyz while draining: %d %v", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	_, _, err := idle.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "server shutting down" {
		t.Errorf("an idle v1 connection: %v, want close 1001 server shutting down", err)
	}
	out := exchange(t, late, websocket.MessageBinary, validRequest(langBash).Bytes())
	if out.result != nil || out.code != websocket.StatusGoingAway || out.reason != "server shutting down" {
		t.Errorf("a v0 request after the drain began: %+v, want close 1001 server shutting down", out)
	}
	resp, err := http.Post(ts.URL+"/api/v1/execute", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("an HTTP request while draining: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if ts.runner.calls.Load() != 0 {
		t.Errorf("%d runs while draining", ts.runner.calls.Load())
	}
	select {
	case <-ts.srv.Drained():
	case <-time.After(timescale.D(5 * time.Second)):
		t.Error("not drained with nothing served")
	}
}
