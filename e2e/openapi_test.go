package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/atod-project/atod/internal/timescale"
)

// TestOpenAPI: docs/openapi.yaml is a valid OpenAPI 3.1 document, and the
// real daemon's HTTP endpoints keep to it: each request below, and each
// answer, is checked against it (pb33f's libopenapi-validator: bodies by
// their JSON Schema, statuses, content types, headers; a msgpack body it
// takes on trust, having no decoder for it, so the exchanges are JSON's).
func TestOpenAPI(t *testing.T) {
	spec, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("docs/openapi.yaml: %v", e)
		}
		t.FailNow()
	}

	d := startDaemon(t, daemonOptions{})
	base := "http://" + d.addr
	const run = `"input": "", "options": [], "arguments": []`
	type check struct {
		name, method, path, contentType, accept, body string
		status                                        int
		validRequest                                  bool // the request keeps to the document too
	}
	// checkAgainst sends c to the daemon at base and checks the exchange.
	checkAgainst := func(t *testing.T, base string, c check) {
		req := func() *http.Request {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			r, err := http.NewRequest(c.method, base+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			if c.accept != "" {
				r.Header.Set("Accept", c.accept)
			}
			return r
		}
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
		defer cancel()
		resp, err := http.DefaultClient.Do(req().WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, body)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if c.validRequest {
			if ok, verrs := v.ValidateHttpRequestResponse(req(), resp); !ok {
				t.Errorf("%s %s: %s\n%.300s", c.method, c.path, validationErrors(verrs), body)
			}
		} else if ok, verrs := v.ValidateHttpResponse(req(), resp); !ok {
			t.Errorf("the answer of %s %s: %s\n%.300s", c.method, c.path, validationErrors(verrs), body)
		}
	}
	for _, c := range []check{
		{"execute", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "echo hi; echo err >&2", ` + run + `}`, 200, true},
		{"execute with the extensions", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "cat d/f; head -c 100 /dev/zero", ` + run +
			`, "timeout": 10, "limits": {"memory_mib": 64, "cpu_time": 2.5, "output": 10}, "files": {"d/f": {"base64": "aGkK"}}}`, 200, true},
		{"execute, binary output", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "printf '\\377'", ` + run + `}`, 200, true},
		{"execute, timed out", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "sleep 5", ` + run + `, "timeout": 1}`, 200, true},
		{"execute, no such language", "POST", "/api/v1/execute", "application/json", "", `{"language": "nope", "code": "", ` + run + `}`, 400, true},
		{"execute, limits past the maximum", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "", ` + run + `, "limits": {"pids": 100000}}`, 400, true},
		{"execute, missing code", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "input": "", "options": [], "arguments": []}`, 400, false},
		{"execute, not JSON", "POST", "/api/v1/execute", "text/plain", "", `language=bash`, 415, false},
		{"execute, too big", "POST", "/api/v1/execute", "application/json", "", `{"language": "bash", "code": "` + strings.Repeat("x", 70000) + `", ` + run + `}`, 413, true},
		{"metadata as JSON", "GET", "/api/v1/metadata", "", "application/json", "", 200, true},
		{"limits", "GET", "/api/v1/limits", "", "", "", 200, true},
		{"healthz", "GET", "/healthz", "", "", "", 200, true},
		{"readyz", "GET", "/readyz", "", "", "", 200, true},
		{"metrics", "GET", "/metrics", "", "", "", 200, true},
		{"websocket without an upgrade", "GET", "/api/v1/ws/execute", "", "", "", 426, true},
	} {
		t.Run(c.name, func(t *testing.T) { checkAgainst(t, base, c) })
	}

	// Busy: one slot, held; the HTTP API answers 503 with Retry-After at
	// once.
	busy := startDaemon(t, daemonOptions{slots: 1, args: []string{"--prepared", "0"}})
	held := make(chan error, 1)
	go func() {
		_, err := executeErr(busy, job{language: "bash", code: holdCode("openapi"), timeout: 60})
		held <- err
	}()
	awaitHold(t, busy, "openapi")
	t.Run("execute, busy", func(t *testing.T) {
		checkAgainst(t, "http://"+busy.addr, check{method: "POST", path: "/api/v1/execute", contentType: "application/json",
			body: `{"language": "bash", "code": "echo hi", ` + run + `}`, status: 503, validRequest: true})
	})
	release(t, busy, "openapi")
	if err := <-held; err != nil {
		t.Error(err)
	}

	// Tokens: 401 without one.
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("token-for-the-openapi-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := startDaemon(t, daemonOptions{args: []string{"--token-file", tokens}})
	t.Run("limits without a token", func(t *testing.T) {
		checkAgainst(t, "http://"+locked.addr, check{method: "GET", path: "/api/v1/limits", status: 401, validRequest: true})
	})
}

// validationErrors lists validation errors, with their reasons.
func validationErrors[E any](errs []E) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %v", e)
	}
	return b.String()
}
