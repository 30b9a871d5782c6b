package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// requestLines are the "request" lines of a JSON log.
func requestLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

// dialWith opens a websocket to path with headers, and returns the
// upgrade's X-Request-Id.
func dialWith(t *testing.T, ts *testServer, path string, h http.Header) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn, resp.Header.Get("X-Request-Id")
}

// TestRequestLog: every execute request is one log line with its id (the
// X-Request-Id sent back), client, API, language, outcome, the run's status
// and timings; a trusted proxy's X-Forwarded-For and X-Request-Id are taken,
// anyone else's are not.
func TestRequestLog(t *testing.T) {
	proxies, err := server.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		trusted      bool
		id, client   string
		takesProxyID bool
	}{{"direct", false, "", "127.0.0.1", false}, {"behind a trusted proxy", true, "proxy-id.1", "203.0.113.7", true}} {
		t.Run(c.name, func(t *testing.T) {
			logs := &atodtest.SyncBuffer{}
			ts := newTestServer(t, nil, func(o *server.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if c.trusted {
					o.TrustedProxies = proxies
				}
			})
			h := http.Header{"X-Forwarded-For": {"203.0.113.7, 127.0.0.2"}, "X-Request-Id": {"proxy-id.1"}}
			conn, id := dialWith(t, ts, executePath, h)
			if out := exchange(t, conn, websocket.MessageBinary, validRequest(langPython).Bytes()); out.result == nil {
				t.Fatalf("no result: %+v", out)
			}
			bad, badID := dialWith(t, ts, executePath, nil)
			exchange(t, bad, websocket.MessageBinary, validRequest(langPython).Set("timeout", msgp.AppendInt(nil, 99)).Bytes())
			lines := requestLines(t, logs.String())
			if len(lines) != 2 {
				t.Fatalf("%d request lines, want 2:\n%s", len(lines), logs.String())
			}
			run, refused := lines[0], lines[1]
			if (id == "proxy-id.1") != c.takesProxyID || run["id"] != id || run["client"] != c.client || run["api"] != "v0" ||
				run["language"] != langPython || run["outcome"] != "1000" || run["status"] != "exited" || run["total"] == nil || run["wait"] == nil {
				t.Errorf("the run's line %v (X-Request-Id %q)", run, id)
			}
			if refused["id"] != badID || refused["outcome"] != "1008" || refused["status"] != nil {
				t.Errorf("the refused request's line %v (X-Request-Id %q)", refused, badID)
			}
		})
	}
}

// TestLogsHoldNoProgramData: at the debug level, requests that run, fail and
// are refused on every API leave none of their code, input, options,
// arguments, custom runner or output in the log.
func TestLogsHoldNoProgramData(t *testing.T) {
	const marker = "S3CRET-"
	logs := &atodtest.SyncBuffer{}
	calls := 0
	runner := &fakeRunner{run: func(_ context.Context, spec job.Spec) (job.Result, error) {
		calls++
		spec.Stdout.Write(spec.Files.Code)
		spec.Stderr.Write(spec.Files.Input)
		if calls%2 == 0 {
			return job.Result{}, errors.New("the sandbox failed")
		}
		return job.Result{Status: job.Status{Type: job.StatusExited}}, nil
	}}
	ts := newTestServer(t, runner, func(o *server.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	req := validRequest(langPython).
		Set("code", msgp.AppendBytes(nil, []byte(marker+"code"))).
		Set("input", msgp.AppendString(nil, marker+"input")).
		Set("options", atodtest.StrArray(marker+"option")).
		Set("arguments", atodtest.StrArray(marker+"argument")).
		Set("custom_runner", msgp.AppendString(nil, marker+"runner"))
	for range 2 {
		exchange(t, ts.dial(t, executePath), websocket.MessageBinary, req.Bytes())
		v1 := ts.dial(t, "/api/v1/ws/execute")
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
		if err := v1.Write(ctx, websocket.MessageBinary, req.Bytes()); err != nil {
			t.Fatal(err)
		}
		for {
			f, err := testclient.ReadV1(ctx, v1)
			if err != nil || f.Stream == "Done" {
				break
			}
		}
		cancel()
	}
	// Refused: a bad timeout, a text frame, a bad language, too big.
	exchange(t, ts.dial(t, executePath), websocket.MessageBinary, req.Set("timeout", msgp.AppendInt(nil, 99)).Bytes())
	exchange(t, ts.dial(t, executePath), websocket.MessageText, req.Bytes())
	exchange(t, ts.dial(t, executePath), websocket.MessageBinary, req.Set("language", msgp.AppendString(nil, marker+"lang")).Bytes())
	exchange(t, ts.dial(t, executePath), websocket.MessageBinary, req.Padded(t, protocol.MaxRequestSize+1))
	body := `{"language":"python","code":"` + marker + `code","input":"` + marker + `input","options":[],"arguments":[],"timeout":5}`
	for range 2 {
		resp, err := http.Post(ts.URL+"/api/v1/execute", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if calls < 4 {
		t.Fatalf("%d runs; the test cannot see what runs log", calls)
	}
	got := logs.String()
	for _, what := range []string{"code", "input", "option", "argument", "runner"} {
		if strings.Contains(got, marker+what) {
			t.Errorf("the program's %s is in the log:\n%s", what, got)
		}
	}
}
