package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// fakeRecorder notes what the server tells its Recorder.
type fakeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeRecorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *fakeRecorder) Ran(language string, res job.Result, err error) {
	r.add("ran %s %s %v", language, res.Status.Type, err)
}
func (r *fakeRecorder) Waited(d time.Duration)         { r.add("waited") }
func (r *fakeRecorder) Refused(api string, reason int) { r.add("refused %s %d", api, reason) }
func (r *fakeRecorder) Output(stream string, n int)    { r.add("output %s %d", stream, n) }

func (r *fakeRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// TestRecorder: a run is recorded with its wait, its output and how it
// ended; a refused request with its API and close code or status.
func TestRecorder(t *testing.T) {
	rec := &fakeRecorder{}
	ts := newTestServer(t, nil, func(o *server.Options) { o.Recorder, o.Slots = rec, 2 })
	out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(langPython).Bytes())
	if out.result == nil {
		t.Fatalf("no result: %+v", out)
	}
	exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest("nosuch").Bytes())
	resp, err := http.Post(ts.URL+"/api/v1/execute", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{"waited", "output stdout 8", "ran python exited <nil>", "refused v0 1008", "refused http 415"}
	if got := rec.got(); !slices.Equal(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}
