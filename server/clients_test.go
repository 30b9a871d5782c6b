package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// withCode is m with code.
func withCode(m atodtest.RawMap, code string) []byte {
	return m.Set("code", msgp.AppendString(nil, code)).Bytes()
}

// TestClientLimits: a client (its token) past its runs at once or its
// requests a minute is refused (1013, HTTP 429); another client is not.
func TestClientLimits(t *testing.T) {
	tokens, err := server.ParseTokens([]byte("client-a-0123456789\nclient-b-0123456789\nclient-c-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		if string(spec.Files.Code) == "block" {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner, func(o *server.Options) {
		o.Tokens, o.ClientRuns, o.ClientRequestsPerMinute = tokens, 1, 3
	})
	dial := func(token string) *websocket.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+executePath,
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		return conn
	}
	blocked := make(chan outcome, 1)
	a := dial("client-a-0123456789")
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
	defer cancel()
	if err := a.Write(ctx, websocket.MessageBinary, withCode(validRequest(langBash), "block")); err != nil {
		t.Fatal(err)
	}
	go func() {
		out, _ := readOutcome(ctx, a, time.Now())
		blocked <- out
	}()
	recvWithin(t, started, 5*time.Second, "the first run of client a")
	if out := exchange(t, dial("client-a-0123456789"), websocket.MessageBinary, withCode(validRequest(langBash), "x")); out.code != 1013 ||
		out.reason != "too many runs of this client at once; try again later" {
		t.Errorf("a second run of client a: %+v, want close 1013", out)
	}
	if out := exchange(t, dial("client-b-0123456789"), websocket.MessageBinary, withCode(validRequest(langBash), "x")); out.result == nil {
		t.Errorf("a run of client b: %+v", out)
	}
	close(release)
	if out := recvWithin(t, blocked, 5*time.Second, "the first run's end"); out.result == nil {
		t.Errorf("the first run of client a: %+v", out)
	}
	// Client c: three requests a minute, at once.
	for i := range 3 {
		if out := exchange(t, dial("client-c-0123456789"), websocket.MessageBinary, withCode(validRequest(langBash), "x")); out.result == nil {
			t.Errorf("request %d of client c: %+v", i+1, out)
		}
	}
	if out := exchange(t, dial("client-c-0123456789"), websocket.MessageBinary, withCode(validRequest(langBash), "x")); out.code != 1013 ||
		out.reason != "too many requests of this client a minute; try again later" {
		t.Errorf("the fourth request of client c: %+v, want close 1013", out)
	}
	hreq, _ := http.NewRequest("POST", ts.URL+"/api/v1/execute", strings.NewReader(`{"language":"bash","code":"x","input":"","options":[],"arguments":[],"timeout":5}`))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer client-c-0123456789")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("an HTTP request of client c: %d, want 429 with Retry-After", resp.StatusCode)
	}
}
