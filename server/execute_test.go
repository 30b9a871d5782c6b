package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// promptly is how soon a bad request must be refused (API.md: "well under
// 100 ms"), stretched by timescale.
func promptly() time.Duration { return timescale.D(100 * time.Millisecond) }

func TestExecuteRefusals(t *testing.T) {
	valid := validRequest(langPython)
	tests := []struct {
		name       string
		typ        websocket.MessageType // binary when zero
		msg        []byte
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{name: "text frame", typ: websocket.MessageText, msg: valid.Bytes(),
			wantCode: 1003, wantReason: "expected a binary message"},
		{name: "65537 bytes", msg: valid.Padded(t, 65537),
			wantCode: 1009, wantReason: "received message of size 65537, greater than size limit 65536"},
		{name: "a megabyte", msg: make([]byte, 1<<20),
			wantCode: 1009, wantReason: "received message of size 1048576, greater than size limit 65536"},
		{name: "extra data", msg: append(valid.Bytes(), 0xc0),
			wantCode: 1008, wantReason: "invalid request: found extra data"},
		{name: "invalid msgpack", msg: []byte{0xc1, 0x00},
			wantCode: 1008, wantReason: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "empty message", msg: []byte{},
			wantCode: 1008, wantReason: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated map", msg: func() []byte { b := valid.Bytes(); return b[:len(b)-4] }(),
			wantCode: 1008, wantReason: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "not a map", msg: atodtest.StrArray("python"),
			wantCode: 1008, wantReason: "invalid request: not a msgpack map"},
		{name: "missing code", msg: valid.Del("code").Bytes(),
			wantCode: 1008, wantReason: "invalid request: missing field: code"},
		{name: "NUL in option", msg: valid.Set("options", atodtest.StrArray("-O", "x\x00")).Bytes(),
			wantCode: 1008, wantReason: "invalid request: argument contains null byte"},
		{name: "NUL in argument", msg: valid.Set("arguments", atodtest.StrArray("\x00")).Bytes(),
			wantCode: 1008, wantReason: "invalid request: argument contains null byte"},
		{name: "unknown language", msg: valid.Set("language", msgp.AppendString(nil, "ZSH")).Bytes(),
			wantCode: 1008, wantReason: "invalid request: no such language: ZSH"},
		{name: "language without image", msg: valid.Set("language", msgp.AppendString(nil, langNoImage)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: no such language: c_gcc"},
		{name: "language without script", msg: valid.Set("language", msgp.AppendString(nil, langNoScript)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: no such language: noscript"},
		// The store's failure is the server's, not the request's.
		{name: "language whose image store fails", msg: valid.Set("language", msgp.AppendString(nil, langBrokenImg)).Bytes(),
			wantCode: 1011, wantReason: "internal server error"},
		{name: "timeout 0", msg: valid.Set("timeout", msgp.AppendInt(nil, 0)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout not in range 1-60: 0"},
		{name: "timeout 61", msg: valid.Set("timeout", msgp.AppendInt(nil, 61)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout not in range 1-60: 61"},
		{name: "timeout -4", msg: valid.Set("timeout", msgp.AppendInt(nil, -4)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout not in range 1-60: -4"},
		{name: "timeout str", msg: valid.Set("timeout", msgp.AppendString(nil, "60")).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout: expected an integer, got str"},
		{name: "timeout float", msg: valid.Set("timeout", msgp.AppendFloat64(nil, 60.0)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout: expected an integer, got float"},
		{name: "timeout nil", msg: valid.Set("timeout", msgp.AppendNil(nil)).Bytes(),
			wantCode: 1008, wantReason: "invalid request: timeout: expected an integer, got nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			conn := ts.dial(t, executePath)
			typ := tt.typ
			if typ == 0 {
				typ = websocket.MessageBinary
			}
			out := exchange(t, conn, typ, tt.msg)
			if out.result != nil {
				t.Errorf("got a result %+v, want none", out.result)
			}
			if out.code != tt.wantCode || out.reason != tt.wantReason {
				t.Errorf("closed with %d %q, want %d %q", out.code, out.reason, tt.wantCode, tt.wantReason)
			}
			if n := ts.runner.calls.Load(); n != 0 {
				t.Errorf("runner called %d times for a bad request", n)
			}
			// The megabyte has to cross the loopback first.
			if len(tt.msg) <= protocol.MaxRequestSize+1 && out.elapsed >= promptly() {
				t.Errorf("refused after %v, want under %v", out.elapsed, promptly())
			}
		})
	}
}

func TestExecuteFragmentedTooBig(t *testing.T) {
	// The size is the message's, however many frames carry it.
	ts := newTestServer(t, nil)
	conn := ts.dial(t, executePath)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	start := time.Now()
	w, err := conn.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.Write(make([]byte, 30000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := awaitOutcome(t, ctx, conn, start)
	if out.code != 1009 || out.reason != "received message of size 90000, greater than size limit 65536" {
		t.Errorf("closed with %d %q", out.code, out.reason)
	}
}

func TestExecuteMaxSizeAllowed(t *testing.T) {
	ts := newTestServer(t, nil)
	conn := ts.dial(t, executePath)
	out := exchange(t, conn, websocket.MessageBinary, validRequest(langPython).Padded(t, protocol.MaxRequestSize))
	if out.code != websocket.StatusNormalClosure || out.reason != "" {
		t.Errorf("closed with %d %q, want 1000", out.code, out.reason)
	}
	if out.result == nil || string(out.result.Stdout) != "print(1)" {
		t.Errorf("result = %+v, want the code echoed", out.result)
	}
}

func TestExecuteSpec(t *testing.T) {
	tests := []struct {
		name  string
		req   atodtest.RawMap
		check func(t *testing.T, spec job.Spec)
	}{
		{
			name: "python",
			req:  validRequest(langPython).Set("custom_runner", msgp.AppendString(nil, "rm -rf /")),
			check: func(t *testing.T, spec job.Spec) {
				want := job.Spec{
					Image:  "python-img",
					Rootfs: "/srv/atod/images/python-img/rootfs",
					Files: job.Files{
						Code:      []byte("print(1)"),
						Input:     []byte("in"),
						Options:   [][]byte{[]byte("-O")},
						Arguments: [][]byte{[]byte("a"), []byte("b")},
						Runner:    []byte("python3 /ATO/code\n"), // v0 ignores custom_runner
					},
					Command: []string{"/ATO/bash", "/ATO/runner"},
					Env:     []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"},
					Timeout: 7 * time.Second,
					Limits:  job.Limits{MemoryBytes: 1 << 30, Pids: 64, StdoutBytes: 131072, StderrBytes: 32768},
				}
				if spec.Stdout == nil || spec.Stderr == nil {
					t.Fatal("spec has no output writers")
				}
				spec.Stdout, spec.Stderr = nil, nil
				if !reflect.DeepEqual(spec, want) {
					t.Errorf("spec =\n%#v\nwant\n%#v", spec, want)
				}
			},
		},
		{
			name: "timeout omitted",
			req:  validRequest(langPython).Del("timeout"),
			check: func(t *testing.T, spec job.Spec) {
				if spec.Timeout != 60*time.Second {
					t.Errorf("Timeout = %v, want 60s", spec.Timeout)
				}
			},
		},
		{
			name: "image without environment",
			req:  validRequest(langBash),
			check: func(t *testing.T, spec job.Spec) {
				want := []string{
					"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
					"HOME=/ATO/context",
					"LANG=C.UTF-8",
				}
				if !reflect.DeepEqual(spec.Env, want) {
					t.Errorf("Env = %q, want %q", spec.Env, want)
				}
				if spec.Rootfs != "/srv/atod/images/bare-img/rootfs" || string(spec.Files.Runner) != "bash /ATO/code\n" {
					t.Errorf("spec = %+v", spec)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := make(chan job.Spec, 1)
			runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
				specs <- spec
				return exitedOK(spec)
			}}
			ts := newTestServer(t, runner, func(o *server.Options) {
				// StdoutBytes and StderrBytes are overridden by the v0 caps.
				o.Limits = job.Limits{MemoryBytes: 1 << 30, Pids: 64, StdoutBytes: 1, StderrBytes: 1 << 30}
			})
			out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, tt.req.Bytes())
			if out.code != websocket.StatusNormalClosure {
				t.Fatalf("closed with %d %q", out.code, out.reason)
			}
			tt.check(t, recvWithin(t, specs, time.Second, "the spec"))
		})
	}
}

func TestExecuteResult(t *testing.T) {
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		// More output than the v0 caps, in uneven writes.
		for i := range 100 {
			spec.Stdout.Write(bytes.Repeat([]byte{'o'}, 2000+i))
			spec.Stderr.Write(bytes.Repeat([]byte{'e'}, 500+i))
		}
		return job.Result{
			Status:   job.Status{Type: job.StatusKilled, Value: 9},
			TimedOut: true,
			Stats: job.Stats{
				Real: 2 * time.Second, Kernel: 3 * time.Millisecond, User: 4 * time.Microsecond,
				MaxMemKiB: 5, Waits: 6, Preemptions: 7, MajorPageFaults: 8, MinorPageFaults: 9,
				InputOps: 10, OutputOps: 11, MemoryPeakBytes: 1 << 40,
			},
		}, nil
	}}
	ts := newTestServer(t, runner)
	out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(langPython).Bytes())
	if out.code != websocket.StatusNormalClosure || out.reason != "" {
		t.Fatalf("closed with %d %q, want 1000", out.code, out.reason)
	}
	want := protocol.Result{
		Stdout:     bytes.Repeat([]byte{'o'}, 131072),
		Stderr:     bytes.Repeat([]byte{'e'}, 32768),
		StatusType: "killed", StatusValue: 9, TimedOut: true,
		Real: 2e9, Kernel: 3e6, User: 4e3, MaxMem: 5, Waits: 6, Preemptions: 7,
		MajorPageFaults: 8, MinorPageFaults: 9, InputOps: 10, OutputOps: 11,
	}
	if out.result == nil || !reflect.DeepEqual(*out.result, want) {
		if out.result != nil {
			out.result.Stdout, out.result.Stderr = out.result.Stdout[:10], out.result.Stderr[:10]
		}
		t.Errorf("result = %+v (output lengths above), want killed/9 with the stats", out.result)
	}
}

func TestExecuteRunnerError(t *testing.T) {
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		return job.Result{}, fmt.Errorf("mounting %s: %w", spec.Rootfs, errors.New("permission denied"))
	}}
	ts := newTestServer(t, runner)
	out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(langPython).Bytes())
	if out.code != 1011 || out.reason != "internal server error" {
		t.Errorf("closed with %d %q, want 1011 internal server error", out.code, out.reason)
	}
	if out.result != nil {
		t.Errorf("got a result %+v", out.result)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "mounting /srv/atod/images/python-img/rootfs: permission denied") {
		t.Errorf("the runner's error was not logged; logs:\n%s", logs)
	}
}

// TestExecuteUnsupportedUser: an image whose user the sandbox cannot give
// a run is the client's answer too, and the operator's warning.
func TestExecuteUnsupportedUser(t *testing.T) {
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		return job.Result{}, fmt.Errorf("uid 1000: %w", job.ErrUnsupportedUser)
	}}
	ts := newTestServer(t, runner)
	out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(langPython).Bytes())
	if out.code != 1008 || !strings.HasSuffix(out.reason, "language cannot run on this server: python") {
		t.Errorf("closed with %d %q, want 1008 and the language", out.code, out.reason)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "language cannot run here") {
		t.Errorf("no warning for the operator; logs:\n%s", logs)
	}
}

func TestExecuteSlowRunDoesNotDelayBadRequest(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		started <- struct{}{}
		<-release
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner)

	slow := ts.dial(t, executePath)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
	defer cancel()
	if err := slow.Write(ctx, websocket.MessageBinary, validRequest(langPython).Bytes()); err != nil {
		t.Fatal(err)
	}
	recvWithin(t, started, 5*time.Second, "the slow run to start")

	bad := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest("ZSH").Bytes())
	if bad.code != 1008 || bad.elapsed >= promptly() {
		t.Errorf("bad request closed with %d %q after %v, want 1008 under %v", bad.code, bad.reason, bad.elapsed, promptly())
	}

	close(release)
	if out := awaitOutcome(t, ctx, slow, time.Now()); out.code != websocket.StatusNormalClosure || out.result == nil {
		t.Errorf("slow run closed with %d %q, result %v", out.code, out.reason, out.result)
	}
	if n := runner.calls.Load(); n != 1 {
		t.Errorf("runner called %d times, want 1", n)
	}
}

func TestExecuteConcurrentRuns(t *testing.T) {
	const n = 4
	arrived, release := make(chan struct{}, n), make(chan struct{})
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		arrived <- struct{}{}
		select {
		case <-release:
			return exitedOK(spec)
		case <-ctx.Done():
			return job.Result{}, ctx.Err()
		}
	}}
	ts := newTestServer(t, runner)
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = ts.dial(t, executePath)
	}
	var wg sync.WaitGroup
	outcomes := make([]outcome, n)
	for i, conn := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
			defer cancel()
			req := validRequest(langPython).Set("code", msgp.AppendString(nil, fmt.Sprint("run ", i)))
			if err := conn.Write(ctx, websocket.MessageBinary, req.Bytes()); err != nil {
				t.Errorf("writing request %d: %v", i, err)
				return
			}
			out, err := readOutcome(ctx, conn, time.Now())
			if err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
			outcomes[i] = out
		})
	}
	// Every run is in the runner at once before any may finish.
	for i := range n {
		recvWithin(t, arrived, 5*time.Second, fmt.Sprintf("run %d of %d to start while the others run", i+1, n))
	}
	close(release)
	wg.Wait()
	for i, out := range outcomes {
		if out.code != websocket.StatusNormalClosure || out.result == nil || string(out.result.Stdout) != fmt.Sprint("run ", i) {
			t.Errorf("connection %d: closed with %d %q, result %+v", i, out.code, out.reason, out.result)
		}
	}
}

func TestExecuteClientGoneCancelsRun(t *testing.T) {
	tests := []struct {
		name  string
		leave func(conn *websocket.Conn) error
	}{
		{"connection dropped", func(conn *websocket.Conn) error { return conn.CloseNow() }},
		{"close handshake", func(conn *websocket.Conn) error { return conn.Close(websocket.StatusGoingAway, "bye") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, cancelled := make(chan struct{}, 1), make(chan error, 1)
			runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
				started <- struct{}{}
				select {
				case <-ctx.Done():
					cancelled <- ctx.Err()
					return job.Result{Status: job.Status{Type: job.StatusKilled, Value: 9}, Killed: true}, nil
				case <-time.After(timescale.D(10 * time.Second)):
					cancelled <- errors.New("the run's context was not cancelled")
					return job.Result{}, nil
				}
			}}
			ts := newTestServer(t, runner)
			conn := ts.dial(t, executePath)
			ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
			defer cancel()
			if err := conn.Write(ctx, websocket.MessageBinary, validRequest(langPython).Bytes()); err != nil {
				t.Fatal(err)
			}
			recvWithin(t, started, 5*time.Second, "the run to start")
			leaving := time.Now()
			if err := tt.leave(conn); err != nil {
				t.Logf("leaving: %v", err)
			}
			if err := recvWithin(t, cancelled, 5*time.Second, "the run to end"); !errors.Is(err, context.Canceled) {
				t.Errorf("run ended with %v, want its context cancelled", err)
			}
			if d := time.Since(leaving); d > timescale.D(time.Second) {
				t.Errorf("run cancelled %v after the client left", d)
			}
		})
	}
}

func TestExecuteExtraMessagesIgnored(t *testing.T) {
	// A v0 client has nothing to send after its request; if it does, the
	// messages are dropped and the run goes on.
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	runner := &fakeRunner{run: func(ctx context.Context, spec job.Spec) (job.Result, error) {
		started <- struct{}{}
		<-release
		if ctx.Err() != nil {
			return job.Result{}, ctx.Err()
		}
		return exitedOK(spec)
	}}
	ts := newTestServer(t, runner)
	conn := ts.dial(t, executePath)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageBinary, validRequest(langPython).Bytes()); err != nil {
		t.Fatal(err)
	}
	recvWithin(t, started, 5*time.Second, "the run to start")
	for _, typ := range []websocket.MessageType{websocket.MessageBinary, websocket.MessageText} {
		if err := conn.Write(ctx, typ, []byte("more")); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if out := awaitOutcome(t, ctx, conn, time.Now()); out.code != websocket.StatusNormalClosure || out.result == nil {
		t.Errorf("closed with %d %q, result %v", out.code, out.reason, out.result)
	}
}

func TestExecuteRequestReadTimeout(t *testing.T) {
	ts := newTestServer(t, nil, func(o *server.Options) { o.RequestReadTimeout = 50 * time.Millisecond })
	conn := ts.dial(t, executePath)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	start := time.Now()
	_, _, err := conn.Read(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Read() error = %v, want the server to drop the idle connection", err)
	}
	if d := time.Since(start); d > timescale.D(2*time.Second) {
		t.Errorf("dropped after %v", d)
	}
	if n := ts.runner.calls.Load(); n != 0 {
		t.Errorf("runner called %d times", n)
	}
}

func TestExecuteAnyOrigin(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+executePath, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": []string{"https://code.golf.example"}},
	})
	if err != nil {
		t.Fatalf("dialing from another origin: %v", err)
	}
	defer conn.CloseNow()
	if out := exchange(t, conn, websocket.MessageBinary, validRequest(langPython).Bytes()); out.code != websocket.StatusNormalClosure {
		t.Errorf("closed with %d %q", out.code, out.reason)
	}
}

func TestExecuteNotWebsocket(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + executePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("status = %d, want %d", resp.StatusCode, http.StatusUpgradeRequired)
	}
}
