package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// postExecute sends body to POST /api/v1/execute.
func postExecute(t *testing.T, d *daemon, contentType, accept string, body []byte) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(90*time.Second))
	defer cancel()
	resp, b, err := testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, contentType, accept, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// executeJSON runs a JSON request and decodes the JSON answer.
func executeJSON(t *testing.T, d *daemon, body string) protocol.ExecuteResponse {
	t.Helper()
	resp, b := postExecute(t, d, "application/json", "", []byte(body))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var r protocol.ExecuteResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out, errs protocol.Bytes
	json.Unmarshal(raw["stdout"], &out)
	json.Unmarshal(raw["stderr"], &errs)
	r.Stdout, r.Stderr = out, errs
	return r
}

func TestHTTPExecute(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	t.Run("JSON", func(t *testing.T) {
		r := executeJSON(t, d, `{"language": "python", "code": "import sys; print(input()[::-1], sys.argv[1:])", "input": {"base64": "b2xsZWg="}, "options": ["-u"], "arguments": ["a", {"base64": "Yg=="}], "timeout": 10}`)
		if string(r.Stdout) != "hello ['a', 'b']\n" || r.StatusType != "exited" || r.Real <= 0 || r.MaxMem <= 0 || r.MemoryPeak <= 0 {
			t.Errorf("%+v (stdout %q stderr %q)", r, r.Stdout, r.Stderr)
		}
	})
	t.Run("msgpack", func(t *testing.T) {
		resp, b := postExecute(t, d, "application/msgpack", "application/msgpack", job{language: "bash", code: "printf '\\xff'; exit 4", timeout: scaledTimeout(10)}.encode(t))
		var r protocol.ExecuteResponse
		if _, err := r.UnmarshalMsg(b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		if string(r.Stdout) != "\xff" || r.StatusType != "exited" || r.StatusValue != 4 {
			t.Errorf("%+v", r)
		}
	})
	t.Run("binary output in JSON", func(t *testing.T) {
		_, b := postExecute(t, d, "application/json", "", []byte(`{"language": "bash", "code": "printf '\\xff\\x00'", "input": "", "options": [], "arguments": []}`))
		if !strings.Contains(string(b), `"stdout":{"base64":"/wA="}`) {
			t.Errorf("answer %s", b)
		}
	})
	t.Run("OOM", func(t *testing.T) {
		r := executeJSON(t, d, `{"language": "python", "code": "x = bytearray(2**31)", "input": "", "options": [], "arguments": [], "timeout": 30}`)
		if !r.OOMKilled || r.StatusType != "killed" || r.StatusValue != 9 || r.MemoryPeak < 400<<20 {
			t.Errorf("memory hog: %+v", r)
		}
	})
	t.Run("CPU throttling", func(t *testing.T) {
		// A fifth of a CPU, so that a busy loop is held back however
		// busy the machine is otherwise.
		slow := startDaemon(t, daemonOptions{args: []string{"--cpus", "0.2"}})
		r := executeJSON(t, slow, `{"language": "bash", "code": "timeout 0.5 sh -c 'while :; do :; done'", "input": "", "options": [], "arguments": [], "timeout": 10}`)
		if r.CPUThrottledPeriods == 0 || r.CPUThrottledTime == 0 || r.User+r.Kernel > 250e6 {
			t.Errorf("a busy loop under 0.2 CPU: %+v", r)
		}
	})
	t.Run("truncation", func(t *testing.T) {
		r := executeJSON(t, d, `{"language": "bash", "code": "head -c 1M /dev/zero | tr '\\0' x; head -c 100 /dev/zero | tr '\\0' y >&2", "input": "", "options": [], "arguments": [], "timeout": 10}`)
		if len(r.Stdout) != 128<<10 || !r.StdoutTruncated || r.StderrTruncated || len(r.Stderr) != 100 {
			t.Errorf("stdout %d bytes truncated %v, stderr %d bytes truncated %v", len(r.Stdout), r.StdoutTruncated, len(r.Stderr), r.StderrTruncated)
		}
	})
	t.Run("custom runner", func(t *testing.T) {
		r := executeJSON(t, d, `{"language": "python", "code": "", "input": "drawer", "options": [], "arguments": [], "custom_runner": "`+strings.ReplaceAll(reverser, `"`, `\"`)+`"}`)
		if string(r.Stdout) != "reward\n" {
			t.Errorf("custom runner: %q %q", r.Stdout, r.Stderr)
		}
	})
	assertNoLeftovers(t, d)
}

func TestHTTPExecuteStatuses(t *testing.T) {
	d := startDaemon(t, daemonOptions{args: []string{"--concurrency", "1"}})
	d.slots = 1
	errorOf := func(b []byte) string {
		var e protocol.ErrorResponse
		json.Unmarshal(b, &e)
		return e.Error
	}
	tests := []struct {
		name, contentType, body string
		status                  int
		reason                  string
	}{
		{"unknown language", "application/json", `{"language": "ZSH", "code": "", "input": "", "options": [], "arguments": []}`, 400, "invalid request: no such language: ZSH"},
		{"timeout out of range", "application/json", `{"language": "bash", "code": "", "input": "", "options": [], "arguments": [], "timeout": 0}`, 400, "invalid request: timeout not in range 1-60: 0"},
		{"NUL in option", "application/json", `{"language": "bash", "code": "", "input": "", "options": ["\u0000"], "arguments": []}`, 400, "invalid request: argument contains null byte"},
		{"missing key", "application/json", `{"language": "bash", "input": "", "options": [], "arguments": []}`, 400, "invalid request: missing field: code"},
		{"bad JSON", "application/json", `{"language": `, 400, "invalid request: invalid JSON: unexpected end of data"},
		{"bad msgpack", "application/msgpack", "\x85", 400, "invalid request: invalid msgpack: unexpected end of data"},
		{"too large", "application/json", `"` + strings.Repeat("x", 65536) + `"`, 413, "received message of size 65538, greater than size limit 65536"},
		{"form body", "application/x-www-form-urlencoded", "language=bash", 415, "unsupported content type: send application/json or application/msgpack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := postExecute(t, d, tt.contentType, "", []byte(tt.body))
			if resp.StatusCode != tt.status || errorOf(b) != tt.reason {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, errorOf(b), tt.status, tt.reason)
			}
		})
	}
	// With its one slot taken by a websocket run, the HTTP API answers 503.
	c := dialV1(t, d)
	c.send(job{language: "bash", code: holdCode("slot"), timeout: 60}.encode(t))
	awaitHold(t, d, "slot")
	resp, b := postExecute(t, d, "application/json", "", []byte(`{"language": "bash", "code": "", "input": "", "options": [], "arguments": []}`))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("at capacity: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	release(t, d, "slot")
	// A run's slot is free before its Done is sent.
	c.untilDone()
	if resp, b := postExecute(t, d, "application/json", "", []byte(`{"language": "bash", "code": "echo free", "input": "", "options": [], "arguments": []}`)); resp.StatusCode != 200 {
		t.Errorf("after the run: %d %s", resp.StatusCode, b)
	}
}

// Every language of the catalogue (every image is installed) is served
// with the catalogue's properties and the version its image recorded.
func TestV1MetadataOverHTTP(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	md := metadataJSON(t, d)
	langs := embeddedLanguages(t)
	for _, l := range langs {
		want := protocol.LanguageInfo{Name: l.Name, Image: l.Image, Version: md[l.ID].Version, URL: l.URL, SBCS: l.SBCS, SEClass: l.SEClass}
		if got, ok := md[l.ID]; !ok || got != want || got.Version == "" {
			t.Errorf("metadata of %s: %+v (served: %v), want %+v and the image's version", l.ID, got, ok, want)
		}
	}
	if len(md) != len(langs) {
		t.Errorf("metadata lists %d languages, the catalogue has %d", len(md), len(langs))
	}
}

// metadataJSON fetches GET /api/v1/metadata as JSON.
func metadataJSON(t *testing.T, d *daemon) map[string]protocol.LanguageInfo {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.addr+"/api/v1/metadata", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]protocol.LanguageInfo
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	return md
}
