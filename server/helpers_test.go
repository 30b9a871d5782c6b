package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// TestMain fails the package when a test leaves a server or websocket
// goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(timescale.D(5 * time.Second)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGoroutines waits up to wait for every goroutine of the server, the
// websocket library or an HTTP connection to end.
func checkGoroutines(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "checkGoroutines") {
				continue
			}
			if strings.Contains(g, "atod/server") || strings.Contains(g, "coder/websocket") ||
				strings.Contains(g, "net/http.(*conn).serve") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines:\n\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Languages of the fake catalogue, by how runnable they are.
const (
	langPython    = "python"    // script and image with an environment
	langBash      = "bash"      // script and image without an environment
	langNoImage   = "c_gcc"     // image not installed
	langNoScript  = "noscript"  // no runner script
	langBrokenImg = "brokenimg" // the image store fails
)

// fakeCatalogue is a fixed catalogue.
type fakeCatalogue struct {
	langs   map[string]runners.Language
	scripts map[string][]byte
}

func newFakeCatalogue() *fakeCatalogue {
	l := &fakeCatalogue{langs: map[string]runners.Language{}, scripts: map[string][]byte{}}
	add := func(id, image string, script string, seClass string) {
		l.langs[id] = runners.Language{ID: id, Name: "Name of " + id, Image: image, Version: "1",
			URL: "https://example.com/" + id, SBCS: id == langBash, SEClass: seClass}
		if script != "" {
			l.scripts[id] = []byte(script)
		}
	}
	add(langPython, "python-img", "python3 /ATO/code\n", "lang-py")
	add(langBash, "bare-img", "bash /ATO/code\n", "")
	add(langNoImage, "gcc-img", "gcc /ATO/code\n", "lang-c")
	add(langNoScript, "python-img", "", "")
	add(langBrokenImg, "broken-img", "true\n", "")
	return l
}

func (l *fakeCatalogue) Lookup(id string) (runners.Language, bool) {
	lang, ok := l.langs[id]
	return lang, ok
}

func (l *fakeCatalogue) Script(id string) ([]byte, bool) {
	s, ok := l.scripts[id]
	return s, ok
}

func (l *fakeCatalogue) All() []runners.Language {
	var all []runners.Language
	for _, id := range []string{langBash, langNoImage, langBrokenImg, langNoScript, langPython} {
		all = append(all, l.langs[id])
	}
	return all
}

// fakeImages is a fixed image store.
type fakeImages struct{}

func (fakeImages) Lookup(name string) (image.Image, error) {
	switch name {
	case "python-img":
		return image.Image{Name: name, Path: "/srv/atod/images/python-img/rootfs",
			Env:      []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"},
			Versions: map[string]string{langPython: "3.11.2", "other": "9"}}, nil
	case "bare-img":
		return image.Image{Name: name, Path: "/srv/atod/images/bare-img/rootfs"}, nil
	case "broken-img":
		return image.Image{}, fmt.Errorf("reading /srv/atod/images/broken-img/image.json: %w", errors.New("permission denied"))
	default:
		return image.Image{}, fmt.Errorf("image %q: %w", name, image.ErrNotFound)
	}
}

func (f fakeImages) Acquire(name string) (*image.Lease, error) {
	img, err := f.Lookup(name)
	if err != nil {
		return nil, err
	}
	return &image.Lease{Image: img}, nil
}

// fakeRunner is a Runner whose behaviour a test sets; it counts its calls.
type fakeRunner struct {
	calls atomic.Int64
	run   func(ctx context.Context, spec job.Spec) (job.Result, error)
}

func (r *fakeRunner) Run(ctx context.Context, spec job.Spec) (job.Result, error) {
	r.calls.Add(1)
	if r.run == nil {
		return exitedOK(spec)
	}
	return r.run(ctx, spec)
}

// exitedOK echoes the code to stdout and exits 0.
func exitedOK(spec job.Spec) (job.Result, error) {
	if _, err := spec.Stdout.Write(spec.Files.Code); err != nil {
		return job.Result{}, err
	}
	return job.Result{Status: job.Status{Type: job.StatusExited, Value: 0}}, nil
}

// testServer is a Server behind a real HTTP server.
type testServer struct {
	*httptest.Server
	srv    *server.Server
	runner *fakeRunner
	logs   *atodtest.SyncBuffer
}

// newTestServer starts a server with the fake catalogue, image store and
// runner; opts may change the options before New.
func newTestServer(tb testing.TB, runner *fakeRunner, opts ...func(*server.Options)) *testServer {
	tb.Helper()
	if runner == nil {
		runner = &fakeRunner{}
	}
	logs := &atodtest.SyncBuffer{}
	o := server.Options{
		Catalogue: newFakeCatalogue(),
		Images:    fakeImages{},
		Runner:    runner,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := server.New(o)
	if err != nil {
		tb.Fatalf("server.New() error = %v", err)
	}
	ts := httptest.NewServer(s)
	tb.Cleanup(ts.Close)
	return &testServer{Server: ts, srv: s, runner: runner, logs: logs}
}

// dial opens a websocket to path on ts.
func (ts *testServer) dial(tb testing.TB, path string) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(5*time.Second))
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+path, nil)
	if err != nil {
		tb.Fatalf("dialing %s: %v", path, err)
	}
	conn.SetReadLimit(testclient.ReadLimit)
	tb.Cleanup(func() { conn.CloseNow() })
	return conn
}

const executePath = "/api/v0/ws/execute"

// outcome is what a client saw of one execute exchange.
type outcome struct {
	result  *protocol.Result // the result message, if any
	code    websocket.StatusCode
	reason  string
	elapsed time.Duration // from sending the request to the close
}

// exchange sends one message and reads until the connection closes.
func exchange(tb testing.TB, conn *websocket.Conn, typ websocket.MessageType, msg []byte) outcome {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
	defer cancel()
	start := time.Now()
	if err := conn.Write(ctx, typ, msg); err != nil {
		tb.Fatalf("writing request: %v", err)
	}
	return awaitOutcome(tb, ctx, conn, start)
}

// awaitOutcome is readOutcome for the test's goroutine: it fails the test
// on an error.
func awaitOutcome(tb testing.TB, ctx context.Context, conn *websocket.Conn, start time.Time) outcome {
	tb.Helper()
	out, err := readOutcome(ctx, conn, start)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// readOutcome reads a result (if one comes) and the close; elapsed counts
// from start.
func readOutcome(ctx context.Context, conn *websocket.Conn, start time.Time) (outcome, error) {
	o, err := testclient.ReadV0(ctx, conn)
	return outcome{result: o.Result, code: o.Code, reason: o.Reason, elapsed: time.Since(start)}, err
}

// validRequest asks to run language with a few options and arguments.
func validRequest(language string) atodtest.RawMap {
	return atodtest.RawMap{
		{Key: "language", Value: msgp.AppendString(nil, language)},
		{Key: "code", Value: msgp.AppendBytes(nil, []byte("print(1)"))},
		{Key: "input", Value: msgp.AppendString(nil, "in")},
		{Key: "options", Value: atodtest.StrArray("-O")},
		{Key: "arguments", Value: atodtest.StrArray("a", "b")},
		{Key: "timeout", Value: msgp.AppendInt(nil, 7)},
	}
}

// recvWithin receives from ch or fails after d, stretched by timescale.
func recvWithin[T any](tb testing.TB, ch <-chan T, d time.Duration, what string) T {
	tb.Helper()
	d = timescale.D(d)
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		tb.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}
