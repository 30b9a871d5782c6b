package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// TestSpecOfExtensions: a request's limits, files and output cap reach the
// run's spec, and a request with limits gets a sandbox of its own (no
// image named: none of its kind is prepared ahead), where one without
// keeps its image's.
func TestSpecOfExtensions(t *testing.T) {
	var mu sync.Mutex
	var specs []job.Spec
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		mu.Lock()
		specs = append(specs, spec)
		mu.Unlock()
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner, func(o *server.Options) { o.Settings.Limits = job.DefaultLimits })
	base := `"language": "python", "code": "x", "input": "", "options": [], "arguments": []`
	for _, body := range []string{
		"{" + base + "}",
		"{" + base + `, "limits": {"memory_mib": 64, "cpu_time": 1.5, "output": 10}, "files": {"d/f": "data"}}`,
	} {
		if resp, b := post(t, ts, "application/json", "", []byte(body)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	// An interactive v1 run: its stdin is the connection's, its sandbox
	// its own.
	v1 := ts.dial(t, "/api/v1/ws/execute")
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	req := validRequest(langPython).Set("interactive", msgp.AppendBool(nil, true))
	if err := v1.Write(ctx, websocket.MessageBinary, req.Bytes()); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := testclient.ReadV1(ctx, v1)
		if err != nil {
			t.Fatal(err)
		}
		if f.Stream == "Done" {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if interactive := specs[2]; interactive.Image != "" || interactive.Stdin == nil {
		t.Errorf("an interactive request: image %q, stdin %v", interactive.Image, interactive.Stdin)
	}
	plain, limited := specs[0], specs[1]
	if plain.Image == "" || plain.Limits.MemoryBytes != job.DefaultLimits.MemoryBytes || plain.Limits.CPUTime != 0 || plain.Files.Context != nil {
		t.Errorf("a request without extensions: image %q, limits %+v, files %v", plain.Image, plain.Limits, plain.Files.Context)
	}
	if limited.Image != "" || limited.Limits.MemoryBytes != 64<<20 || limited.Limits.CPUTime != 1500*time.Millisecond ||
		limited.Limits.StdoutBytes != 10 || limited.Limits.StderrBytes != 10 ||
		len(limited.Files.Context) != 1 || limited.Files.Context[0].Path != "d/f" || string(limited.Files.Context[0].Data) != "data" {
		t.Errorf("a request with limits and files: image %q, limits %+v, files %v", limited.Image, limited.Limits, limited.Files.Context)
	}
}
