package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// awaitSleeping waits until n processes of d's runs run sleep: the runs
// have started.
func awaitSleeping(t *testing.T, d *daemon, n int) {
	t.Helper()
	for deadline := time.Now().Add(timescale.D(30 * time.Second)); ; time.Sleep(10 * time.Millisecond) {
		got := len(runProcessesOf(t, d, "sleep\x00"))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs started", got, n)
		}
	}
}

// awaitExit waits for d to exit after a SIGTERM and checks that it exited 0.
func awaitExit(t *testing.T, d *daemon, within time.Duration) {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(within):
		t.Fatalf("atod did not exit within %v of SIGTERM:\n%s", within, d.logs())
	}
	if d.exitErr != nil {
		t.Errorf("atod exited with %v after its drain:\n%s", d.exitErr, d.logs())
	}
}

// closeOf is the close code and reason err carries.
func closeOf(err error) string {
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		return fmt.Sprintf("no close frame: %v", err)
	}
	return fmt.Sprintf("%d %s", ce.Code, ce.Reason)
}

// TestSIGTERMDrains: on SIGTERM the daemon stops accepting connections,
// closes idle v1 connections with 1001, lets the runs in flight on v0, v1
// and HTTP finish and answer their clients (a v1 connection is then closed
// with 1001), and exits 0 once they have.
func TestSIGTERMDrains(t *testing.T) {
	d := startDaemon(t, daemonOptions{args: []string{"--drain-seconds", fmt.Sprint(scaledTimeout(60))}})
	prog := job{language: "bash", code: "echo started; sleep 2; echo finished", timeout: scaledTimeout(30)}
	const want = "started\nfinished\n"

	var wg sync.WaitGroup
	var v0 outcome
	var v0Err, httpErr error
	var httpStatus int
	var httpBody []byte
	wg.Go(func() { v0, v0Err = exchangeV0(d, websocket.MessageBinary, prog.encode(t)) })
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(90*time.Second))
		defer cancel()
		body := fmt.Sprintf(`{"language":"bash","code":%q,"input":"","options":[],"arguments":[],"timeout":%d}`, prog.code, prog.timeout)
		var resp *http.Response
		resp, httpBody, httpErr = testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, "application/json", "", []byte(body))
		if resp != nil {
			httpStatus = resp.StatusCode
		}
	})
	running := dialV1(t, d)
	running.send(prog.encode(t))
	if f, err := running.next(); err != nil || f.stream != "Stdout" {
		t.Fatalf("v1: %+v, %v", f, err)
	}
	idle := dialV1(t, d)
	awaitSleeping(t, d, 3)

	d.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := idle.next(); closeOf(err) != "1001 server shutting down" {
		t.Errorf("an idle v1 connection: %s, want close 1001 server shutting down", closeOf(err))
	}
	// Refused from now on: the listener is closed.
	for deadline := time.Now().Add(timescale.D(10 * time.Second)); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the daemon still accepts connections while it drains")
		}
	}
	frames := running.untilDone()
	if got := string(joined(frames, "Stdout")); got == "" || !strings.HasSuffix(want, got) || doneOf(frames).StatusType != "exited" {
		t.Errorf("v1 run: stdout %q, done %+v; want the rest of %q, exited", got, doneOf(frames), want)
	}
	if _, err := running.next(); closeOf(err) != "1001 server shutting down" {
		t.Errorf("v1 after its run: %s, want close 1001 server shutting down", closeOf(err))
	}
	wg.Wait()
	if v0Err != nil || v0.result == nil || string(v0.result.Stdout) != want || v0.code != websocket.StatusNormalClosure {
		t.Errorf("v0 run: %+v (close %d %q), %v; want %q and close 1000", v0.result, v0.code, v0.reason, v0Err, want)
	}
	if httpErr != nil || httpStatus != 200 || !strings.Contains(string(httpBody), `"stdout":"started\nfinished\n"`) {
		t.Errorf("HTTP run: %d %s, %v; want 200 with stdout %q", httpStatus, httpBody, httpErr, want)
	}
	awaitExit(t, d, timescale.D(30*time.Second))
	if !strings.Contains(d.logs(), "drained: every run finished") {
		t.Errorf("no drain in the log:\n%s", d.logs())
	}
}

// TestDrainEnds: the runs still going when the drain's time is up, or at a
// second SIGTERM, are killed, their clients get their results (killed),
// and the daemon exits 0.
func TestDrainEnds(t *testing.T) {
	for _, c := range []struct {
		name   string
		drain  int
		signal bool // a second SIGTERM ends the drain
	}{{"deadline", 1, false}, {"second SIGTERM", 600, true}} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, daemonOptions{args: []string{"--drain-seconds", fmt.Sprint(c.drain)}})
			run := dialV1(t, d)
			run.send(job{language: "bash", code: "echo started; sleep 60", timeout: 60}.encode(t))
			if f, err := run.next(); err != nil || f.stream != "Stdout" {
				t.Fatalf("v1: %+v, %v", f, err)
			}
			idle := dialV1(t, d)
			start := time.Now()
			d.cmd.Process.Signal(syscall.SIGTERM)
			if _, err := idle.next(); closeOf(err) != "1001 server shutting down" {
				t.Fatalf("an idle v1 connection: %s, want close 1001 server shutting down", closeOf(err))
			}
			if c.signal {
				d.cmd.Process.Signal(syscall.SIGTERM) // the drain has begun
			}
			frames := run.untilDone()
			if done := doneOf(frames); done.StatusType != "killed" || done.StatusValue != 9 || done.TimedOut {
				t.Errorf("the run left: %+v, want killed/9, not timed out", done)
			}
			if _, err := run.next(); closeOf(err) != "1001 server shutting down" {
				t.Errorf("v1 after its run: %s, want close 1001 server shutting down", closeOf(err))
			}
			// Not scaled: the drain's end is the daemon's own clock (1 s,
			// or the second signal), not a program's speed.
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("killed %v after SIGTERM", took)
			}
			awaitExit(t, d, timescale.D(30*time.Second))
		})
	}
}

// TestCtrlCDrains: one Ctrl-C at the terminal atod serve runs in drains,
// as one SIGTERM does: the run in flight finishes and answers, and the
// daemon exits 0. The terminal signals its whole foreground process group,
// the copy of itself that atod serves from included; forwarded to it
// as well, the one Ctrl-C was two, and the second killed the run. (Not
// always: two SIGINTs that arrive before the copy takes the first are
// one, the kernel keeping one pending signal of a kind. The sandbox's
// TestForwardedSignals and TestInForegroundGroup hold the mechanism.)
func TestCtrlCDrains(t *testing.T) {
	ptmx, tty := atodtest.OpenPTY(t)
	// The terminal's output (none expected) must not fill up.
	go io.Copy(io.Discard, ptmx)

	d := startDaemon(t, daemonOptions{tty: tty, args: []string{"--drain-seconds", fmt.Sprint(scaledTimeout(60))}})
	if d.servingPID(t) == d.pid {
		t.Skip("atod serves from the process started here, not from a copy of itself: nothing is forwarded")
	}
	answer := make(chan outcome, 1)
	go func() {
		o, err := exchangeV0(d, websocket.MessageBinary, job{language: "bash", code: holdCode("ctrl-c") + "; echo finished", timeout: 60}.encode(t))
		if err != nil {
			o.reason = err.Error()
		}
		answer <- o
	}()
	awaitHold(t, d, "ctrl-c")
	if _, err := ptmx.Write([]byte{0x03}); err != nil { // ^C: SIGINT to the foreground group
		t.Fatal(err)
	}
	waitFor(t, "the daemon to drain", func() bool { return strings.Contains(d.logs(), "draining") })
	release(t, d, "ctrl-c")
	select {
	case o := <-answer:
		if o.result == nil || string(o.result.Stdout) != "finished\n" || status(o.result) != "exited/0" {
			t.Errorf("the run in flight at the Ctrl-C: %+v (close %d %q), want it finished", o.result, o.code, o.reason)
		}
	case <-time.After(timescale.D(60 * time.Second)):
		t.Fatal("the run in flight got no answer")
	}
	awaitExit(t, d, timescale.D(30*time.Second))
}

// TestMaxWaiting: with one run slot, taken, and room for one request to
// wait, one of two more requests waits and runs once the slot is free; the
// other is refused at once with close 1013.
func TestMaxWaiting(t *testing.T) {
	d := startDaemon(t, daemonOptions{slots: 1, args: []string{"--max-waiting", "1"}})
	busy := dialV1(t, d)
	busy.send(job{language: "bash", code: "echo started; sleep 60", timeout: 60}.encode(t))
	if f, err := busy.next(); err != nil || f.stream != "Stdout" {
		t.Fatalf("v1: %+v, %v", f, err)
	}
	var wg sync.WaitGroup
	outs := make([]outcome, 2)
	errs := make([]error, 2)
	refused := make(chan struct{}, 2)
	for i := range outs {
		wg.Go(func() {
			outs[i], errs[i] = exchangeV0(d, websocket.MessageBinary, job{language: "bash", code: "echo waited", timeout: scaledTimeout(10)}.encode(t))
			if outs[i].code == websocket.StatusCode(protocol.CloseTryAgainLater) {
				refused <- struct{}{}
			}
		})
	}
	select {
	case <-refused:
	case <-time.After(timescale.D(30 * time.Second)):
		t.Fatal("no request refused while one waits and the slot is taken")
	}
	busy.kill()
	busy.untilDone()
	wg.Wait()
	var got []string
	for i, o := range outs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if o.result != nil {
			got = append(got, fmt.Sprintf("result %q", o.result.Stdout))
		} else {
			got = append(got, fmt.Sprintf("close %d %s", o.code, o.reason))
		}
	}
	want := []string{`result "waited\n"`, "close 1013 server busy: too many requests wait for a run slot; try again later"}
	if !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		t.Errorf("the two requests: %q, want one of each of %q", got, want)
	}
}

// TestHealthEndpoints: /healthz answers with the build (the commit the
// binary was built from, when built in a git clone: make build stamps it),
// /readyz with the languages that can run.
func TestHealthEndpoints(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get("http://" + d.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/healthz")
	v, _ := body["version"].(map[string]any)
	if code != 200 || body["status"] != "ok" || v["go"] != runtime.Version() {
		t.Errorf("/healthz: %d %v", code, body)
	}
	// A binary built by make in a git clone has its commit.
	if st, err := os.Stat(filepath.Join(binDir, "..", ".git")); err == nil && st.IsDir() {
		head, err := exec.Command("git", "-C", filepath.Join(binDir, ".."), "rev-parse", "HEAD").Output()
		if err == nil && v["revision"] != strings.TrimSpace(string(head)) {
			t.Errorf("/healthz: revision %v, want HEAD %s", v["revision"], head)
		}
	}
	code, body = get("/readyz")
	if code != 200 || body["status"] != "ready" || body["languages"] == nil || body["languages"].(float64) < 1 {
		t.Errorf("/readyz: %d %v", code, body)
	}
}

// TestSystemdNotify: under a Type=notify unit the daemon (its serving copy,
// in namespaces of its own) says READY=1 once it listens, pings the
// watchdog at half its interval, and says STOPPING=1 when it drains. The
// test is systemd: it listens on NOTIFY_SOCKET, and names the process it
// starts in WATCHDOG_PID as systemd names the main process.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chmod(sock, 0o777) // a rootless daemon's user sends too
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(timescale.D(20 * time.Second))
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("the socket closed before %q", want)
				}
				if strings.HasPrefix(m, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the daemon", want)
			}
		}
	}
	d := startDaemon(t, daemonOptions{
		env:  []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"},
		wrap: []string{"sh", "-c", `WATCHDOG_PID=$$ exec "$@"`, "sh"},
	})
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	d.cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	awaitExit(t, d, timescale.D(30*time.Second))
}

// scrape reads d's /metrics: each sample line's name{labels} and value.
func scrape(t *testing.T, d *daemon) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	samples := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		if err == nil {
			samples[line[:i]] = v
		}
	}
	return samples
}

// TestMetrics: /metrics counts runs by language and status, timeouts,
// output, refusals by reason, and has the build, the queue and the Go
// runtime's figures.
func TestMetrics(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	for range 2 {
		execute(t, d, job{language: "bash", code: "echo hello", timeout: scaledTimeout(10)})
	}
	if r := execute(t, d, job{language: "bash", code: "sleep 10", timeout: 1}); !r.TimedOut {
		t.Fatalf("not timed out: %+v", r)
	}
	if out := send(t, d, websocket.MessageBinary, job{language: "nosuchlanguage", code: "x", timeout: 1}.encode(t)); out.code != 1008 {
		t.Fatalf("a bad request: close %d", out.code)
	}
	m := scrape(t, d)
	for name, want := range map[string]float64{
		`atod_runs_total{language="bash",status="exited"}`:         2,
		`atod_runs_total{language="bash",status="killed"}`:         1,
		`atod_run_timeouts_total{language="bash"}`:                 1,
		`atod_output_bytes_total{stream="stdout"}`:                 12,
		`atod_requests_refused_total{api="v0",reason="1008"}`:      1,
		`atod_run_duration_seconds_count{language="bash"}`:         3,
		`atod_queue_wait_seconds_count`:                            3,
		`atod_queue_depth`:                                         0,
		`atod_slots_busy`:                                          0,
		`atod_draining`:                                            0,
		`atod_build_info{go="` + runtime.Version() + `",revision=`: -1, // present
	} {
		got, ok := m[name]
		if want == -1 {
			for k := range m {
				if strings.HasPrefix(k, name) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("no %s... in /metrics", name)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
	if m["go_goroutines"] == 0 || m["process_resident_memory_bytes"] == 0 || m["atod_image_store_bytes"] <= 0 {
		t.Errorf("runtime, process or store figures missing: goroutines %v, RSS %v, store %v",
			m["go_goroutines"], m["process_resident_memory_bytes"], m["atod_image_store_bytes"])
	}
}

// withToken runs j on d's v0 endpoint with the bearer token (none: "").
func withToken(t *testing.T, d *daemon, token string, j job) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if token != "" {
		opts.HTTPHeader.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), opts)
	if err != nil {
		if resp != nil {
			return outcome{code: websocket.StatusCode(resp.StatusCode)}
		}
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(testclient.ReadLimit)
	if err := conn.Write(ctx, websocket.MessageBinary, j.encode(t)); err != nil {
		t.Fatal(err)
	}
	o, err := testclient.ReadV0(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	return outcome{result: o.Result, code: o.Code, reason: o.Reason}
}

// TestSIGHUPReload: SIGHUP applies the configuration file's reloadable
// settings (the runs' memory limit, the tokens, whose file it reads again)
// at once, says which need a restart (prepared), and a file that does
// not load changes nothing.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	conf, tokens := filepath.Join(dir, "atod.json"), filepath.Join(dir, "tokens")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const tokenA, tokenB = "token-a-0123456789", "token-b-0123456789"
	write(tokens, tokenA+"\n")
	write(conf, fmt.Sprintf(`{"memory_mib": 512, "token_file": %q}`, tokens))
	d := startDaemon(t, daemonOptions{args: []string{"--config", conf}})
	// 100 MiB held at once by Bash: fine in 512 MiB, killed in 64.
	hog := job{language: "bash", code: "x=$(head -c 100M /dev/zero | tr '\\0' a); echo ${#x}", timeout: scaledTimeout(30)}
	if o := withToken(t, d, "", hog); o.code != 401 {
		t.Fatalf("no token: %+v, want 401", o)
	}
	if o := withToken(t, d, tokenA, hog); o.result == nil || string(o.result.Stdout) != "104857600\n" {
		t.Fatalf("with 512 MiB: %+v", o)
	}
	reloaded := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(timescale.D(10 * time.Second)); strings.Count(d.logs(), "configuration") < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no reload in the log:\n%s", d.logs())
			}
		}
	}
	write(tokens, tokenB+"\n")
	write(conf, fmt.Sprintf(`{"memory_mib": 64, "token_file": %q, "prepared": 1}`, tokens))
	d.cmd.Process.Signal(syscall.SIGHUP)
	reloaded(2) // "configuration reloaded" and the restart warning (the harness gives --concurrency on the command line, which a file does not override)
	logs := d.logs()
	if !strings.Contains(logs, `"changed":["memory_mib"]`) || !strings.Contains(logs, `"keys":["prepared"]`) {
		t.Errorf("the reload's log lines:\n%s", logs)
	}
	if o := withToken(t, d, tokenA, hog); o.code != 401 {
		t.Errorf("the old token after the reload: %+v, want 401", o)
	}
	if o := withToken(t, d, tokenB, hog); o.result == nil || o.result.StatusType != "killed" {
		t.Errorf("with 64 MiB: %+v, want the hog killed", o)
	}
	write(conf, `{"memory_mib": 64,`)
	d.cmd.Process.Signal(syscall.SIGHUP)
	reloaded(3)
	if !strings.Contains(d.logs(), "configuration not reloaded: nothing changed") {
		t.Errorf("a broken file:\n%s", d.logs())
	}
	// A file with one bad value among good ones changes nothing either.
	write(conf, fmt.Sprintf(`{"memory_mib": 512, "token_file": %q, "allowed_origins": ["["]}`, tokens))
	d.cmd.Process.Signal(syscall.SIGHUP)
	reloaded(4)
	if !strings.Contains(d.logs(), `allowed origin \"[\"`) {
		t.Errorf("a bad allowed origin:\n%s", d.logs())
	}
	if o := withToken(t, d, tokenB, hog); o.result == nil || o.result.StatusType != "killed" {
		t.Errorf("with 64 MiB still, after a refused reload: %+v, want the hog killed", o)
	}
	if o := withToken(t, d, tokenB, job{language: "bash", code: "echo still", timeout: scaledTimeout(10)}); o.result == nil || string(o.result.Stdout) != "still\n" {
		t.Errorf("after a broken file: %+v", o)
	}
}

// TestFrontEndFlags: the front end's settings given at start apply from the
// first request (not only after a reload): allowed origins, a client's
// requests a minute.
func TestFrontEndFlags(t *testing.T) {
	d := startDaemon(t, daemonOptions{args: []string{"--allowed-origin", "*.example.com", "--client-requests-per-minute", "2"}})
	req, _ := http.NewRequest("GET", "http://"+d.addr+"/api/v1/metadata", nil)
	req.Header.Set("Origin", "https://evil.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a page of another origin: %d, want 403", resp.StatusCode)
	}
	var got []string
	for range 3 {
		out := send(t, d, websocket.MessageBinary, job{language: "bash", code: "true", timeout: scaledTimeout(10)}.encode(t))
		got = append(got, fmt.Sprint(int(out.code)))
	}
	if strings.Join(got, " ") != "1000 1000 1013" {
		t.Errorf("three requests of a client allowed two a minute: closes %v, want 1000 1000 1013", got)
	}
}
