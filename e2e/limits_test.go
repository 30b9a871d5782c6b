package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// Per-request limits (docs/api.md, "Limits"): an extension of ours on the
// v1 websocket and the HTTP API.

// TestLimitsPerResource: each limit a request sets holds its run (a hog
// per resource, which the server's own limits would let through), and the
// Done of such a run says how it ended.
func TestLimitsPerResource(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	run := func(t *testing.T, j job) ([]v1Frame, protocol.Done) {
		t.Helper()
		frames := c.run(j)
		done := doneOf(frames)
		if done.OOMKilled == nil || done.CPUTimeExceeded == nil {
			t.Errorf("the Done of a run with limits lacks oom_killed or cpu_time_exceeded: %+v", done)
		}
		return frames, done
	}
	is := func(b *bool) bool { return b != nil && *b }

	t.Run("memory_mib", func(t *testing.T) {
		_, done := run(t, job{language: "python", timeout: scaledTimeout(30), limits: map[string]any{"memory_mib": 64},
			code: "x = bytearray(200 * 2**20)\nprint('allocated')"})
		if done.StatusType != "killed" || done.StatusValue != 9 || !is(done.OOMKilled) || is(done.CPUTimeExceeded) || done.TimedOut {
			t.Errorf("a 200 MiB allocation under 64 MiB: %+v, want killed/9 with oom_killed", done)
		}
	})
	t.Run("pids", func(t *testing.T) {
		frames, done := run(t, job{language: "python", timeout: scaledTimeout(30), limits: map[string]any{"pids": 16}, code: `
import os, time
n = 0
try:
    for i in range(100):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print("forks", n, e.errno)
`})
		var n, errno int
		if _, err := fmt.Sscanf(string(joined(frames, "Stdout")), "forks %d %d", &n, &errno); err != nil || n >= 16 || errno != 11 {
			t.Errorf("forks under 16 pids: %q (%+v), want fewer than 16 and EAGAIN", joined(frames, "Stdout"), done)
		}
	})
	t.Run("cpu_time", func(t *testing.T) {
		start := time.Now()
		_, done := run(t, job{language: "bash", timeout: scaledTimeout(30), limits: map[string]any{"cpu_time": 0.5}, code: "while :; do :; done"})
		if done.StatusType != "killed" || done.StatusValue != 9 || !is(done.CPUTimeExceeded) || done.TimedOut || is(done.OOMKilled) {
			t.Errorf("a busy loop under 0.5 s of CPU: %+v, want killed/9 with cpu_time_exceeded, not timed out", done)
		}
		if took := time.Since(start); took > timescale.D(5*time.Second) {
			t.Errorf("killed for 0.5 s of CPU after %v", took)
		}
	})
	t.Run("output", func(t *testing.T) {
		frames, done := run(t, job{language: "bash", timeout: scaledTimeout(30), limits: map[string]any{"output": 100},
			code: "head -c 1000 /dev/zero | tr '\\0' x; head -c 50 /dev/zero | tr '\\0' y >&2"})
		if out, errOut := joined(frames, "Stdout"), joined(frames, "Stderr"); len(out) != 100 || !done.StdoutTruncated || len(errOut) != 50 || done.StderrTruncated {
			t.Errorf("1000 bytes of stdout and 50 of stderr under 100 each: %d and %d bytes, %+v", len(out), len(errOut), done)
		}
	})
	for _, c := range []struct{ limit, dir string }{{"tmpfs_mib", "/tmp"}, {"root_mib", "/var"}} {
		t.Run(c.limit, func(t *testing.T) {
			frames, done := run(t, job{language: "bash", timeout: scaledTimeout(30), limits: map[string]any{c.limit: 4},
				code: "dd if=/dev/zero of=" + c.dir + "/big bs=1M count=8 2>&1 | head -n 1; echo status ${PIPESTATUS[0]}"})
			if out := string(joined(frames, "Stdout")); !strings.Contains(out, "No space left on device") || !strings.Contains(out, "status 1") {
				t.Errorf("8 MiB into %s under %s 4: %q, %+v", c.dir, c.limit, out, done)
			}
		})
	}
	t.Run("cpus", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
		defer cancel()
		// The loop's own CPU time (bash's times: its children's), not
		// the run's: the start of the runner chain costs a fifth of a
		// second of CPU under the VM lane's emulation.
		body := `{"language": "bash", "code": "timeout 2 sh -c 'while :; do :; done'; times >/tmp/times; tail -n 1 /tmp/times", "input": "", "options": [], "arguments": [], "limits": {"cpus": 0.2}}`
		resp, b, err := testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, "application/json", "", []byte(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST: %v %s", err, b)
		}
		var r protocol.ExecuteResponse
		var out struct{ Stdout string } // JSON's stdout is text
		if err := errors.Join(json.Unmarshal(b, &r), json.Unmarshal(b, &out)); err != nil {
			t.Fatal(err)
		}
		// "0m0.401s 0m0.012s": user and system.
		var cpu time.Duration
		times := strings.Fields(out.Stdout)
		for _, f := range times {
			d, err := time.ParseDuration(f)
			if err != nil {
				t.Fatalf("bash's times printed %q", out.Stdout)
			}
			cpu += d
		}
		if len(times) != 2 {
			t.Fatalf("bash's times printed %q, want user and system time", out.Stdout)
		}
		// Two seconds of a busy loop at a fifth of a CPU take 0.4 s of
		// CPU (and the start of two processes); at a whole CPU, 2 s:
		// halfway between, with room for the starts.
		if cpu > time.Second || r.CPUThrottledPeriods == 0 || r.CPUTimeExceeded == nil || *r.CPUTimeExceeded {
			t.Errorf("two seconds' busy loop under 0.2 CPUs used %v of CPU, throttled %d times: %s", cpu, r.CPUThrottledPeriods, b)
		}
	})
	assertNoLeftovers(t, d)
}

// TestLimitsRefused: limits past this server's maximum (GET
// /api/v1/limits), or malformed, are refused before any run, naming the
// limit; the v0 endpoint ignores the key, as it ignores every key it does
// not know; and a run without limits gets the contract's Done, with no
// extension key.
func TestLimitsRefused(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	resp, err := http.Get("http://" + d.addr + "/api/v1/limits")
	if err != nil {
		t.Fatal(err)
	}
	var most protocol.Limits
	err = json.NewDecoder(resp.Body).Decode(&most)
	resp.Body.Close()
	want := protocol.Limits{MemoryMiB: 512, Pids: 256, CPUs: 1, CPUTime: 60, Output: 128 << 10, TmpfsMiB: 64, RootMiB: 256}
	if err != nil || resp.StatusCode != 200 || most != want {
		t.Errorf("GET /api/v1/limits: %d %+v %v, want %+v", resp.StatusCode, most, err, want)
	}

	for _, c := range []struct {
		limits map[string]any
		reason string
	}{
		{map[string]any{"memory_mib": 1024}, "invalid request: limits.memory_mib: 1024 is more than this server's maximum, 512 (GET /api/v1/limits)"},
		{map[string]any{"cpu_time": 61.5}, "invalid request: limits.cpu_time: 61.5 is more than this server's maximum, 60 (GET /api/v1/limits)"},
		{map[string]any{"pids": 2}, "invalid request: limits.pids: 2 is less than a run needs, 8"},
		{map[string]any{"output": 1 << 20}, "invalid request: limits.output: 1048576 is more than this server's maximum, 131072 (GET /api/v1/limits)"},
		{map[string]any{"memory": 64}, `invalid request: limits: unknown limit "memory" (the limits are [memory_mib pids cpus cpu_time output tmpfs_mib root_mib])`},
		{map[string]any{"cpus": "all"}, "invalid request: limits.cpus: expected a number, got str"},
	} {
		// JSON names its types in its own words.
		jsonReason := strings.Replace(c.reason, "got str", "got all", 1)
		assertRefused(t, d, job{language: "bash", code: "echo ran", limits: c.limits}, c.reason, jsonReason)
	}

	// v0: the key is unknown there, whatever it holds.
	r := execute(t, d, job{language: "python", timeout: scaledTimeout(30), limits: map[string]any{"memory_mib": 8, "cpus": "all"},
		code: "x = bytearray(100 * 2**20)\nprint('allocated')"})
	if string(r.Stdout) != "allocated\n" || status(r) != "exited/0" {
		t.Errorf("v0 with limits: %s %q %q, want them ignored", status(r), r.Stdout, r.Stderr)
	}
	// v1 without limits: no extension key in Done.
	done := doneOf(dialV1(t, d).run(job{language: "bash", code: "echo plain", timeout: scaledTimeout(30)}))
	if done.OOMKilled != nil || done.CPUTimeExceeded != nil {
		t.Errorf("a run without limits got extension keys in Done: %+v", done)
	}
	assertNoLeftovers(t, d)
}

// assertRefused sends j to d's v1 websocket, which must close with 1008
// and reason, and as JSON to its HTTP API, which must answer 400 with
// jsonReason.
func assertRefused(t *testing.T, d *daemon, j job, reason, jsonReason string) {
	t.Helper()
	c := dialV1(t, d)
	c.send(j.encode(t))
	if _, err := c.next(); closeOf(err) != "1008 "+reason {
		t.Errorf("v1 %+v: %s, want close 1008 %q", j, closeOf(err), reason)
	}
	body, _ := json.Marshal(map[string]any{"language": j.language, "code": j.code, "input": j.input, "options": nonNil(j.options),
		"arguments": nonNil(j.arguments), "limits": j.limits, "files": j.files})
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(30*time.Second))
	defer cancel()
	resp, b, err := testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, "application/json", "", body)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(string(b), jsonString(jsonReason)) {
		t.Errorf("HTTP %s: %v %s, want 400 %q", body, err, b, jsonReason)
	}
}

// jsonString is s as it appears inside a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
