package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// post sends body to POST /api/v1/execute on ts.
func post(t *testing.T, ts *testServer, contentType, accept string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := postErr(ts, contentType, accept, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// postErr is post for goroutines.
func postErr(ts *testServer, contentType, accept string, body []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
	defer cancel()
	return testclient.PostExecute(ctx, http.DefaultClient, ts.URL, contentType, accept, body)
}

const jsonHello = `{"language": "python", "code": "print(1)", "input": "", "options": [], "arguments": [], "timeout": 5}`

func TestHTTPExecuteJSONAndMsgpack(t *testing.T) {
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		spec.Stdout.Write(spec.Files.Code)
		spec.Stderr.Write([]byte{0xff, 0xfe})
		return job.Result{Status: job.Status{Type: job.StatusExited, Value: 3}, Stats: job.Stats{OOMKilled: true, MemoryPeakBytes: 4096, Real: time.Second}}, nil
	}}
	ts := newTestServer(t, runner)
	resp, body := post(t, ts, "application/json", "", []byte(jsonHello))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got["stdout"] != "print(1)" || got["status_value"] != 3.0 || got["oom_killed"] != true || got["memory_peak"] != 4096.0 || got["real"] != 1e9 {
		t.Errorf("JSON answer %s", body)
	}
	if se, _ := got["stderr"].(map[string]any); se["base64"] != "//4=" {
		t.Errorf("binary stderr as %v", got["stderr"])
	}

	frame := msgp.AppendMapHeader(nil, 5)
	for _, kv := range [][2]string{{"language", "python"}, {"code", "x"}, {"input", ""}} {
		frame = msgp.AppendString(msgp.AppendString(frame, kv[0]), kv[1])
	}
	frame = msgp.AppendArrayHeader(msgp.AppendString(frame, "options"), 0)
	frame = msgp.AppendArrayHeader(msgp.AppendString(frame, "arguments"), 0)
	resp, body = post(t, ts, "application/msgpack", "application/msgpack", frame)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var er protocol.ExecuteResponse
	if _, err := er.UnmarshalMsg(body); err != nil {
		t.Fatal(err)
	}
	if string(er.Stdout) != "x" || er.StatusType != "exited" || !er.OOMKilled {
		t.Errorf("msgpack answer %+v", er)
	}
	// JSON in, msgpack out by Accept's preference.
	resp, _ = post(t, ts, "application/json", "application/json;q=0.5, application/x-msgpack", []byte(jsonHello))
	if resp.Header.Get("Content-Type") != "application/msgpack" {
		t.Errorf("Accept preferring msgpack got %s", resp.Header.Get("Content-Type"))
	}
}

func TestHTTPExecuteErrors(t *testing.T) {
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		if string(spec.Files.Code) == "block" {
			started <- struct{}{}
			<-block
		}
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner, func(o *server.Options) { o.Slots = 1 })
	big := `{"language": "python", "code": "` + strings.Repeat("x", 70000) + `", "input": "", "options": [], "arguments": []}`
	tests := []struct {
		name, contentType, body string
		status                  int
		reason                  string
	}{
		{"unknown language", "application/json", `{"language": "ZSH", "code": "", "input": "", "options": [], "arguments": []}`, 400, "invalid request: no such language: ZSH"},
		{"bad timeout", "application/json", `{"language": "python", "code": "", "input": "", "options": [], "arguments": [], "timeout": 61}`, 400, "invalid request: timeout not in range 1-60: 61"},
		{"NUL in argument", "application/json", `{"language": "python", "code": "", "input": "", "options": [], "arguments": ["\u0000"]}`, 400, "invalid request: argument contains null byte"},
		{"invalid msgpack", "application/msgpack", "\xc1", 400, "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{"too large", "application/json", big, 413, "received message of size 70079, greater than size limit 65536"},
		{"no content type", "", jsonHello, 415, "unsupported content type: send application/json or application/msgpack"},
		{"text/plain", "text/plain", jsonHello, 415, "unsupported content type: send application/json or application/msgpack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts, tt.contentType, "", []byte(tt.body))
			var e protocol.ErrorResponse
			json.Unmarshal(body, &e)
			if resp.StatusCode != tt.status || e.Error != tt.reason {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, e.Error, tt.status, tt.reason)
			}
		})
	}
	if n := runner.calls.Load(); n != 0 {
		t.Errorf("bad requests reached the runner %d times", n)
	}
	// At capacity: 503 with Retry-After.
	blocked := make(chan error, 1)
	go func() {
		resp, body, err := postErr(ts, "application/json", "", []byte(strings.Replace(jsonHello, "print(1)", "block", 1)))
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		blocked <- err
	}()
	recvWithin(t, started, 5*time.Second, "the blocking run to start")
	resp, body := post(t, ts, "application/json", "", []byte(jsonHello))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "at capacity") {
		t.Errorf("at capacity: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(block)
	if err := recvWithin(t, blocked, 5*time.Second, "the blocking run to end"); err != nil {
		t.Errorf("the run that held the slot: %v", err)
	}
	if resp, _ := post(t, ts, "application/json", "", []byte(jsonHello)); resp.StatusCode != 200 {
		t.Errorf("after the slot freed: %d", resp.StatusCode)
	}
	// A wrong method.
	resp, err := http.Get(ts.URL + "/api/v1/execute")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET /api/v1/execute: %d", resp.StatusCode)
	}
}

func TestV1MetadataJSONAndMsgpack(t *testing.T) {
	ts := newTestServer(t, nil)
	get := func(accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/metadata", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("")
	var md protocol.Metadata
	if _, err := md.UnmarshalMsg(body); err != nil || resp.Header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("default metadata: %v %s", err, resp.Header.Get("Content-Type"))
	}
	resp, body = get("application/json")
	var jm map[string]map[string]any
	if err := json.Unmarshal(body, &jm); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON metadata: %v %s", err, body)
	}
	if len(jm) != len(md) || jm["python"]["se_class"] != "lang-py" || jm["python"]["name"] != "Name of python" {
		t.Errorf("JSON metadata %s vs msgpack %v", body, md)
	}
}

// TestV1BadRequestsBackToBack sends two bad requests at once on a v1
// connection: the first closes it with its reason, and the handler ends
// (TestMain fails the package on a leaked goroutine) although the reader
// holds the second.
func TestV1BadRequestsBackToBack(t *testing.T) {
	ts := newTestServer(t, nil)
	conn := ts.dial(t, "/api/v1/ws/execute")
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	for range 2 {
		if err := conn.Write(ctx, websocket.MessageBinary, []byte{0xc1}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := conn.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("read after two bad requests: %v", err)
	}
}
