package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/sandbox/job"
)

func TestMetrics(t *testing.T) {
	m := New(func() (int64, error) { return 4096, nil })
	m.Ran("bash", job.Result{Status: job.Status{Type: job.StatusExited}, Stats: job.Stats{Real: 20 * time.Millisecond}}, nil)
	m.Ran("bash", job.Result{Status: job.Status{Type: job.StatusKilled, Value: 9}, TimedOut: true, Stats: job.Stats{OOMKilled: true}}, nil)
	m.Ran("python", job.Result{}, errors.New("no sandbox"))
	m.Ran("python", job.Result{Status: job.Status{Type: job.StatusKilled, Value: 9}, CPUTimeExceeded: true}, nil)
	m.Waited(3 * time.Second)
	m.Refused("v1", 1013)
	m.Output("stderr", 5)
	m.Output("stderr", 7)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	for _, want := range []string{
		`atod_runs_total{language="bash",status="exited"} 1`,
		`atod_runs_total{language="bash",status="killed"} 1`,
		`atod_runs_total{language="python",status="error"} 1`,
		`atod_run_timeouts_total{language="bash"} 1`,
		`atod_run_oom_kills_total{language="bash"} 1`,
		`atod_run_cpu_time_kills_total{language="python"} 1`,
		`atod_run_duration_seconds_bucket{language="bash",le="0.025"} 2`,
		`atod_queue_wait_seconds_bucket{le="5"} 1`,
		`atod_queue_wait_seconds_bucket{le="1"} 0`,
		`atod_requests_refused_total{api="v1",reason="1013"} 1`,
		`atod_output_bytes_total{stream="stderr"} 12`,
		`atod_image_store_bytes 4096`,
		`atod_build_info{`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
}
