package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// The soak: many mixed runs against one daemon at full concurrency, every
// result checked, and the daemon measured at checkpoints for anything that
// grows with the number of runs. `make soak` runs 5,000; `make test` (and a
// plain `go test ./e2e/`) a shorter pass of soakDefaultRuns.
// ATOD_SOAK_RUNS sets the number of runs, ATOD_SOAK_SEED the mix, and
// ATOD_SOAK_ONLY (kind names, e.g. "timeout,Kill") keeps only those kinds,
// to reproduce a failure quickly.
const (
	soakConcurrency = 8
	soakDefaultRuns = 1000
	// The daemon is measured after a warm-up of a tenth of the runs, and
	// then soakCheckpoints times more, evenly, the last after the last run.
	// Each waits for the runs in flight to end, so there are few.
	soakCheckpoints = 4
	soakMaxFailures = 30 // then the soak stops: the rest would only repeat them
	// soakMemoryMiB is the runs' memory limit: lower than the default 512
	// MiB, which a run takes 2-3 s to fill here (page by page) before the
	// kernel kills it; 128 MiB takes about half a second, by the same
	// path.
	soakMemoryMiB = 128
)

// The timeouts of the kinds that run into theirs: short, so that a pass
// fits in make test; the bounds checked on them scale with timescale.D.
const (
	soakTimeout     = 1 // seconds
	soakBombTimeout = 1
)

// soakKind is one kind of run of the soak, with its share of the mix and
// its variants; each variant checks its own run and returns what was wrong.
type soakKind struct {
	name     string
	weight   int
	variants []soakVariant
}

type soakVariant struct {
	name string
	// run carries out run i and checks its outcome.
	run func(ctx context.Context, s *soak, i int) error
}

// soak is the state the runs share.
type soak struct {
	d    *daemon
	http *http.Client
	// frames are the requests of bad-request runs, made before the runs
	// start (encodeMap needs the test's goroutine to fail in).
	badFrames map[string][]byte
	mu        sync.Mutex
	// http503 counts HTTP requests answered 503 and retried: a slot may
	// still be held by a run whose client has just gone.
	http503 int
	// timedOut counts the runs that ran out their timeout, wrote the
	// ones that wrote their first line before.
	timedOut, wrote int
}

// note counts a run that ran out its timeout.
func (s *soak) note(r soakResult) {
	if !r.timedOut {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timedOut++
	if r.stdout != "" {
		s.wrote++
	}
}

func TestSoak(t *testing.T) {
	atodtest.NeedRoot(t)
	if testing.Short() {
		t.Skip("the soak takes minutes")
	}
	runs := envInt(t, "ATOD_SOAK_RUNS", soakDefaultRuns)
	seed := uint64(envInt(t, "ATOD_SOAK_SEED", 1))
	d := startDaemon(t, daemonOptions{args: []string{"--concurrency", strconv.Itoa(soakConcurrency), "--memory-mib", strconv.Itoa(soakMemoryMiB)}})
	d.slots = soakConcurrency
	s := &soak{
		d: d,
		// No keep-alive: an idle connection would count as a daemon fd.
		http:      &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		badFrames: soakBadFrames(t),
	}
	kinds := soakKinds()
	if only := os.Getenv("ATOD_SOAK_ONLY"); only != "" {
		kinds = slices.DeleteFunc(kinds, func(k soakKind) bool { return !strings.Contains(only, k.name) })
	}
	plan := soakPlan(kinds, runs, seed)
	t.Logf("soak: %d runs at concurrency %d, mix seed %d (ATOD_SOAK_RUNS=%d ATOD_SOAK_SEED=%d repeats it)",
		runs, soakConcurrency, seed, runs, seed)

	var samples []soakSample
	samples = append(samples, s.sample(t, "start", 0))
	type tally struct {
		runs, correct int
		time          time.Duration
	}
	tallies := map[string]*tally{}
	for _, k := range kinds {
		tallies[k.name] = &tally{}
	}
	var failures []string
	var mu sync.Mutex
	start := time.Now()
	warmup := max(runs/10, 1)
	done := 0
	for b := 0; done < runs && len(failures) < soakMaxFailures; b++ {
		end := min(warmup+(runs-warmup)*b/soakCheckpoints, runs)
		if b == 0 {
			end = warmup
		}
		next := make(chan int)
		var wg sync.WaitGroup
		for range soakConcurrency {
			wg.Go(func() {
				for i := range next {
					p := plan[i]
					ctx, cancel := context.WithTimeout(context.Background(), timescale.D(2*time.Minute))
					began := time.Now()
					err := p.variant.run(ctx, s, i)
					took := time.Since(began)
					cancel()
					mu.Lock()
					tl := tallies[p.kind]
					tl.runs++
					tl.time += took
					if err == nil {
						tl.correct++
					} else {
						failures = append(failures, fmt.Sprintf("run %d (%s, %s): %v", i, p.kind, p.variant.name, err))
					}
					mu.Unlock()
				}
			})
		}
		for i := done; i < end; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		done = end
		label := fmt.Sprintf("after %d", done)
		if len(samples) == 1 {
			label = "after warm-up"
		}
		smp := s.sample(t, label, done)
		samples = append(samples, smp)
		for _, l := range smp.leftovers {
			failures = append(failures, fmt.Sprintf("after %d runs, left behind: %s", done, l))
		}
	}
	elapsed := time.Since(start)
	for i, f := range failures {
		if i == soakMaxFailures {
			t.Errorf("... and %d more failures", len(failures)-i)
			break
		}
		t.Error(f)
	}

	// Output written before a timeout reaches the client (the Kill runs
	// check the same path every time). A busy machine keeps many runs
	// from getting as far as their first write within a second (here,
	// under a load of 25 from other work, over half), so this asks only
	// that some did: the check above saw output at a timeout.
	if s.wrote == 0 {
		t.Errorf("none of the %d runs that ran out their timeout delivered their first line", s.timedOut)
	}

	// Nothing grows with the runs: what an idle daemon holds at the end is
	// what it held after the warm-up, when everything that is made once
	// (cgroup parents, caches, the runtime's threads for the peak) exists.
	final := s.settle(t, samples[1])

	clientCPU, daemonCPU := cpuTime(t, os.Getpid()), cpuTime(t, d.servingPID(t))
	var b strings.Builder
	fmt.Fprintf(&b, "soak summary: %d runs in %v (%.1f runs/s), concurrency %d, seed %d\n",
		done, elapsed.Round(time.Millisecond), float64(done)/elapsed.Seconds(), soakConcurrency, seed)
	fmt.Fprintf(&b, "  %-13s %6s %8s %8s %10s\n", "kind", "runs", "correct", "failed", "mean time")
	for _, k := range kinds {
		tl := tallies[k.name]
		mean := time.Duration(0)
		if tl.runs > 0 {
			mean = tl.time / time.Duration(tl.runs)
		}
		fmt.Fprintf(&b, "  %-13s %6d %8d %8d %10v\n", k.name, tl.runs, tl.correct, tl.runs-tl.correct, mean.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "  CPU time: daemon and runs %v, test client %v\n", daemonCPU.Round(time.Second), clientCPU.Round(time.Second))
	fmt.Fprintf(&b, "  HTTP requests answered 503 and retried: %d\n", s.http503)
	fmt.Fprintf(&b, "  runs that ran out their timeout: %d, of which %d wrote their first line before\n", s.timedOut, s.wrote)
	fmt.Fprintf(&b, "  %-16s %6s %5s %8s %10s %10s %9s %9s\n", "daemon", "runs", "fds", "threads", "goroutines", "heap KiB", "RSS KiB", "leftovers")
	for _, smp := range append(samples, final) {
		fmt.Fprintf(&b, "  %-16s %6d %5d %8d %10d %10d %9d %9d\n", smp.label, smp.runs, smp.fds, smp.threads, smp.goroutines, smp.heapKiB, smp.rssKiB, len(smp.leftovers))
	}
	t.Log(b.String())

	s.checkSlots(t)
	assertNoLeftovers(t, d)
}

// envInt is the positive integer in environment variable name, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// soakRun is one planned run.
type soakRun struct {
	kind    string
	variant soakVariant
}

// soakPlan draws each run's kind from the weights with a generator seeded
// by seed, and takes each kind's variants in turn: the same seed and number
// of runs give the same runs in the same order.
func soakPlan(kinds []soakKind, runs int, seed uint64) []soakRun {
	rng := rand.New(rand.NewPCG(seed, 0))
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	seen := map[string]int{}
	plan := make([]soakRun, runs)
	for i := range plan {
		n := rng.IntN(total)
		k := kinds[0]
		for _, k = range kinds {
			if n < k.weight {
				break
			}
			n -= k.weight
		}
		plan[i] = soakRun{kind: k.name, variant: k.variants[seen[k.name]%len(k.variants)]}
		seen[k.name]++
	}
	return plan
}

// The programs of the soak. Each run passes its index as the program's
// first argument and expects it back, so that an answer meant for another
// run would not pass.
const (
	soakEcho      = `read -r x; printf '%s-%d\n' "$x" "$1"; echo "e$1" >&2; exit $(($1 % 5))`
	soakPython    = "import sys\nprint(input()[::-1], sys.argv[1])\nsys.exit(int(sys.argv[1]) % 3)"
	soakSleep     = `echo "t$1"; exec sleep 60`
	soakSleepKids = `sleep 60 & sleep 60 & echo "t$1"; wait`
	soakHog       = "import sys\nprint('o' + sys.argv[1], flush=True)\nx = bytearray(2**31)"
	soakBomb      = `echo "f$1"; b() { b | b & }; b; exec sleep 60`
	soakFlood     = `exec yes "f$1"`
	soakFloodErr  = `exec yes "e$1" >&2`
	soakExactCap  = `exec head -c 131072 /dev/zero`
	soakGone      = `echo "g$1"; exec -a "soakgone-$1" sleep 60`
	soakGoneFlood = `exec -a "soakgone-$1" yes`
)

// The output caps (docs/api.md): v1's and the HTTP API's per stream, v0's
// of stderr.
const (
	soakStreamCap   = 131072
	soakV0StderrCap = 32768
)

func soakKinds() []soakKind {
	// echoWant is what soakEcho answers to run i with input in.
	echoWant := func(in string, i int) soakWant {
		return soakWant{stdout: fmt.Sprintf("%s-%d\n", in, i), stderr: fmt.Sprintf("e%d\n", i), status: fmt.Sprintf("exited/%d", i%5)}
	}
	return []soakKind{
		{"normal", 4, []soakVariant{
			{"v0 bash", func(ctx context.Context, s *soak, i int) error {
				return s.v0Expect(ctx, i, job{language: "bash", code: soakEcho, input: "in", timeout: scaledTimeout(10)}, echoWant("in", i))
			}},
			{"v1 bash", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "bash", code: soakEcho, input: "in", timeout: scaledTimeout(10)}, echoWant("in", i))
			}},
			{"v1 python", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "python", code: soakPython, input: "olleh", timeout: scaledTimeout(10)},
					soakWant{stdout: fmt.Sprintf("hello %d\n", i), status: fmt.Sprintf("exited/%d", i%3)})
			}},
			{"HTTP bash", func(ctx context.Context, s *soak, i int) error {
				return s.httpExpect(ctx, i, job{language: "bash", code: soakEcho, input: "in", timeout: scaledTimeout(10)}, echoWant("in", i))
			}},
		}},
		{"timeout", 1, []soakVariant{
			{"v0 exec sleep", func(ctx context.Context, s *soak, i int) error {
				return s.v0Expect(ctx, i, job{language: "bash", code: soakSleep, timeout: soakTimeout},
					soakWant{stdout: fmt.Sprintf("t%d\n", i), status: "killed/9", timedOut: true, orNothing: true})
			}},
			{"v1 children", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "bash", code: soakSleepKids, timeout: soakTimeout},
					soakWant{stdout: fmt.Sprintf("t%d\n", i), status: "killed/9", timedOut: true, orNothing: true})
			}},
			{"HTTP exec sleep", func(ctx context.Context, s *soak, i int) error {
				return s.httpExpect(ctx, i, job{language: "bash", code: soakSleep, timeout: soakTimeout},
					soakWant{stdout: fmt.Sprintf("t%d\n", i), status: "killed/9", timedOut: true, orNothing: true})
			}},
		}},
		{"OOM", 1, []soakVariant{
			{"v0 python", func(ctx context.Context, s *soak, i int) error {
				return s.v0Expect(ctx, i, job{language: "python", code: soakHog, timeout: scaledTimeout(30)},
					soakWant{stdout: fmt.Sprintf("o%d\n", i), status: "killed/9"})
			}},
			{"v1 python", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "python", code: soakHog, timeout: scaledTimeout(30)},
					soakWant{stdout: fmt.Sprintf("o%d\n", i), status: "killed/9"})
			}},
			{"HTTP python", func(ctx context.Context, s *soak, i int) error {
				return s.httpExpect(ctx, i, job{language: "python", code: soakHog, timeout: scaledTimeout(30)},
					soakWant{stdout: fmt.Sprintf("o%d\n", i), status: "killed/9", oomKilled: true})
			}},
		}},
		{"fork bomb", 1, []soakVariant{
			{"v0", func(ctx context.Context, s *soak, i int) error {
				return s.v0Expect(ctx, i, job{language: "bash", code: soakBomb, timeout: soakBombTimeout},
					soakWant{stdout: fmt.Sprintf("f%d\n", i), stderr: "*", status: "killed/9", timedOut: true, orNothing: true})
			}},
			{"v1", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "bash", code: soakBomb, timeout: soakBombTimeout},
					soakWant{stdout: fmt.Sprintf("f%d\n", i), stderr: "*", status: "killed/9", timedOut: true, orNothing: true})
			}},
		}},
		{"output flood", 1, []soakVariant{
			{"v1 stdout", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "bash", code: soakFlood, timeout: scaledTimeout(10)},
					soakWant{stdout: repeatTo(fmt.Sprintf("f%d\n", i), soakStreamCap), status: "killed/13", stdoutTruncated: true})
			}},
			{"v0 stderr", func(ctx context.Context, s *soak, i int) error {
				return s.v0Expect(ctx, i, job{language: "bash", code: soakFloodErr, timeout: scaledTimeout(10)},
					soakWant{stderr: repeatTo(fmt.Sprintf("e%d\n", i), soakV0StderrCap), status: "killed/13"})
			}},
			{"v1 exactly the cap", func(ctx context.Context, s *soak, i int) error {
				return s.v1Expect(ctx, i, job{language: "bash", code: soakExactCap, timeout: scaledTimeout(10)},
					soakWant{stdout: strings.Repeat("\x00", soakStreamCap), status: "exited/0"})
			}},
		}},
		{"Kill", 1, []soakVariant{
			{"exec sleep", func(ctx context.Context, s *soak, i int) error {
				return s.v1Kill(ctx, i, soakSleep)
			}},
			{"children", func(ctx context.Context, s *soak, i int) error {
				return s.v1Kill(ctx, i, soakSleepKids)
			}},
		}},
		{"client gone", 1, []soakVariant{
			{"v1 dropped", func(ctx context.Context, s *soak, i int) error {
				return s.v1Gone(ctx, i, soakGone, false)
			}},
			{"v0 dropped", func(ctx context.Context, s *soak, i int) error {
				return s.v0Gone(ctx, i)
			}},
			{"v1 dropped mid-flood", func(ctx context.Context, s *soak, i int) error {
				return s.v1Gone(ctx, i, soakGoneFlood, false)
			}},
			{"v1 close frame", func(ctx context.Context, s *soak, i int) error {
				return s.v1Gone(ctx, i, soakGone, true)
			}},
		}},
		{"bad request", 4, soakBadVariants()},
	}
}

// repeatTo is s repeated and cut to n bytes.
func repeatTo(s string, n int) string {
	return strings.Repeat(s, n/len(s)+1)[:n]
}

// withIndex is j with the run's index as its program's argument.
func withIndex(j job, i int) job {
	j.arguments = []string{strconv.Itoa(i)}
	return j
}

// mustEncode encodes a job built from constants, which cannot fail; it
// runs outside the test's goroutine, where t.Fatal may not be called.
func mustEncode(j job) []byte {
	b, err := appendMap(j.fields()...)
	if err != nil {
		panic(err)
	}
	return b
}

// soakResult is what a run answered, from any of the three APIs.
type soakResult struct {
	api            string // "v0", "v1" or "HTTP"
	stdout, stderr string
	status         string // status_type/status_value
	timedOut       bool
	truncated      [2]bool // stdout, stderr; v0 has no such fields
	oomKilled      bool    // only the HTTP API has the field
	memoryPeak     int64   // only the HTTP API has the field
	real, cpu      time.Duration
	timeout        int // the request's, seconds
}

// soakWant is what a run must answer.
type soakWant struct {
	stdout string
	// stdout may also be empty: a run that ran out its timeout on a busy
	// machine may not have got as far as its first write.
	orNothing bool
	stderr    string // "*": anything (a fork bomb's shell complains of failed forks, as often as it gets to)
	status    string
	// timedOut, stdoutTruncated and oomKilled are checked where the API
	// has the field.
	timedOut, stdoutTruncated, oomKilled bool
}

func (r soakResult) expect(w soakWant) error {
	var errs []error
	if r.stdout != w.stdout && !(w.orNothing && r.stdout == "") {
		errs = append(errs, fmt.Errorf("stdout %s, want %s", clipText(r.stdout), clipText(w.stdout)))
	}
	if w.stderr != "*" && r.stderr != w.stderr {
		errs = append(errs, fmt.Errorf("stderr %s, want %s", clipText(r.stderr), clipText(w.stderr)))
	}
	if r.status != w.status || r.timedOut != w.timedOut {
		errs = append(errs, fmt.Errorf("status %s timed_out %v, want %s timed_out %v", r.status, r.timedOut, w.status, w.timedOut))
	}
	if r.api != "v0" && (r.truncated[0] != w.stdoutTruncated || r.truncated[1]) {
		errs = append(errs, fmt.Errorf("truncated stdout %v stderr %v, want stdout %v stderr false", r.truncated[0], r.truncated[1], w.stdoutTruncated))
	}
	if r.api == "HTTP" && r.oomKilled != w.oomKilled {
		errs = append(errs, fmt.Errorf("oom_killed %v, want %v", r.oomKilled, w.oomKilled))
	}
	if w.timedOut {
		// The timeout counts from the sandbox's start; killing the run
		// and collecting it takes a moment more, longer under the
		// soak's load.
		lo := time.Duration(r.timeout) * time.Second
		if r.real < lo || r.real > lo+timescale.D(3*time.Second) {
			errs = append(errs, fmt.Errorf("real %v for a timeout of %d s", r.real, r.timeout))
		}
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("(real %v, CPU %v)", r.real, r.cpu))
	}
	return errors.Join(errs...)
}

// clip quotes s, shortened to its ends when long.
func clipText(s string) string {
	if len(s) <= 80 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q...(%d bytes)...%q", s[:40], len(s), s[len(s)-20:])
}

// v0 runs one v0 connection: dial, send frame as typ, read until the server
// closes.
func (s *soak) v0(ctx context.Context, typ websocket.MessageType, frame []byte) (*protocol.Result, websocket.CloseError, error) {
	o, err := testclient.V0(ctx, s.d.url("/api/v0/ws/execute"), typ, frame)
	return o.Result, websocket.CloseError{Code: o.Code, Reason: o.Reason}, err
}

func (s *soak) v0Expect(ctx context.Context, i int, j job, w soakWant) error {
	j = withIndex(j, i)
	r, ce, err := s.v0(ctx, websocket.MessageBinary, mustEncode(j))
	if err != nil {
		return err
	}
	if r == nil || ce.Code != websocket.StatusNormalClosure {
		return fmt.Errorf("no result: close %d %q", ce.Code, ce.Reason)
	}
	res := soakResult{
		api: "v0", stdout: string(r.Stdout), stderr: string(r.Stderr), status: status0(r.StatusType, r.StatusValue),
		timedOut: r.TimedOut, real: time.Duration(r.Real), cpu: time.Duration(r.User + r.Kernel), timeout: j.timeout,
	}
	s.note(res)
	return res.expect(w)
}

func status0(typ string, value int) string { return fmt.Sprintf("%s/%d", typ, value) }

// soakConn is a v1 connection of the soak.
type soakConn struct {
	conn *websocket.Conn
}

func (s *soak) dialV1(ctx context.Context) (*soakConn, error) {
	conn, _, err := websocket.Dial(ctx, s.d.url("/api/v1/ws/execute"), nil)
	if err != nil {
		return nil, fmt.Errorf("dialing v1: %w", err)
	}
	conn.SetReadLimit(testclient.ReadLimit)
	return &soakConn{conn: conn}, nil
}

func (c *soakConn) send(ctx context.Context, frame []byte) error {
	if err := c.conn.Write(ctx, websocket.MessageBinary, frame); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// next reads one server message of a run.
func (c *soakConn) next(ctx context.Context) (v1Frame, error) {
	f, err := testclient.ReadV1(ctx, c.conn)
	return v1Frame{at: f.At, stream: f.Stream, data: f.Data, done: f.Done}, err
}

// untilDone reads a run's messages up to its Done.
func (c *soakConn) untilDone(ctx context.Context, frames []v1Frame) ([]v1Frame, error) {
	for {
		f, err := c.next(ctx)
		if err != nil {
			return frames, fmt.Errorf("reading (after %d messages): %w", len(frames), err)
		}
		frames = append(frames, f)
		if f.stream == "Done" {
			return frames, nil
		}
	}
}

func v1Result(frames []v1Frame, timeout int) soakResult {
	dn := doneOf(frames)
	return soakResult{
		api: "v1", stdout: string(joined(frames, "Stdout")), stderr: string(joined(frames, "Stderr")),
		status: status0(dn.StatusType, dn.StatusValue), timedOut: dn.TimedOut,
		truncated: [2]bool{dn.StdoutTruncated, dn.StderrTruncated}, real: time.Duration(dn.Real), cpu: time.Duration(dn.User + dn.Kernel), timeout: timeout,
	}
}

func (s *soak) v1Expect(ctx context.Context, i int, j job, w soakWant) error {
	c, err := s.dialV1(ctx)
	if err != nil {
		return err
	}
	defer c.conn.CloseNow()
	j = withIndex(j, i)
	if err := c.send(ctx, mustEncode(j)); err != nil {
		return err
	}
	frames, err := c.untilDone(ctx, nil)
	if err != nil {
		return err
	}
	res := v1Result(frames, j.timeout)
	s.note(res)
	return res.expect(w)
}

// untilOutput reads a run's messages until its stdout holds want; the run
// is then running.
func (c *soakConn) untilOutput(ctx context.Context, want string) ([]v1Frame, error) {
	var frames []v1Frame
	for !strings.Contains(string(joined(frames, "Stdout")), want) {
		f, err := c.next(ctx)
		if err != nil {
			return frames, fmt.Errorf("waiting for %q: %w", want, err)
		}
		if f.stream == "Done" {
			return frames, fmt.Errorf("Done %+v before %q", f.done, want)
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// v1Kill starts code, sends Kill once it runs and checks the Done; then the
// connection must carry a next run.
func (s *soak) v1Kill(ctx context.Context, i int, code string) error {
	c, err := s.dialV1(ctx)
	if err != nil {
		return err
	}
	defer c.conn.CloseNow()
	j := withIndex(job{language: "bash", code: code, timeout: scaledTimeout(30)}, i)
	if err := c.send(ctx, mustEncode(j)); err != nil {
		return err
	}
	frames, err := c.untilOutput(ctx, fmt.Sprintf("t%d\n", i))
	if err != nil {
		return err
	}
	killed := time.Now()
	if err := c.send(ctx, msgp.AppendString(nil, "Kill")); err != nil {
		return err
	}
	frames, err = c.untilDone(ctx, frames)
	if err != nil {
		return err
	}
	// Without Kill the run would go on for its 30 s.
	if e := time.Since(killed); e > timescale.D(5*time.Second) {
		return fmt.Errorf("Done came %v after Kill", e)
	}
	if err := v1Result(frames, j.timeout).expect(soakWant{stdout: fmt.Sprintf("t%d\n", i), status: "killed/9"}); err != nil {
		return fmt.Errorf("after Kill: %w", err)
	}
	j = withIndex(job{language: "bash", code: soakEcho, input: "next", timeout: scaledTimeout(10)}, i)
	if err := c.send(ctx, mustEncode(j)); err != nil {
		return err
	}
	if frames, err = c.untilDone(ctx, nil); err != nil {
		return fmt.Errorf("the run after Kill: %w", err)
	}
	if err := v1Result(frames, j.timeout).expect(soakWant{stdout: fmt.Sprintf("next-%d\n", i), stderr: fmt.Sprintf("e%d\n", i), status: fmt.Sprintf("exited/%d", i%5)}); err != nil {
		return fmt.Errorf("the run after Kill: %w", err)
	}
	return nil
}

// v1Gone starts code, which names its process soakgone-i, and goes away
// once the run has written something: dropping the connection, or with a
// close frame. The run's processes must then be gone promptly.
func (s *soak) v1Gone(ctx context.Context, i int, code string, closeFrame bool) error {
	c, err := s.dialV1(ctx)
	if err != nil {
		return err
	}
	defer c.conn.CloseNow()
	if err := c.send(ctx, mustEncode(withIndex(job{language: "bash", code: code, timeout: scaledTimeout(30)}, i))); err != nil {
		return err
	}
	if _, err := c.next(ctx); err != nil {
		return fmt.Errorf("waiting for the run's output: %w", err)
	}
	gone := time.Now()
	if closeFrame {
		if err := c.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			return fmt.Errorf("closing: %w", err)
		}
	} else {
		c.conn.CloseNow()
	}
	return s.waitGone(ctx, i, gone)
}

// v0Gone sends a request and drops the connection as soon as the run's
// process exists.
func (s *soak) v0Gone(ctx context.Context, i int) error {
	conn, _, err := websocket.Dial(ctx, s.d.url("/api/v0/ws/execute"), nil)
	if err != nil {
		return fmt.Errorf("dialing v0: %w", err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageBinary, mustEncode(withIndex(job{language: "bash", code: soakGone, timeout: scaledTimeout(30)}, i))); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	for len(s.goneProcesses(i)) == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the run never started")
		case <-time.After(10 * time.Millisecond):
		}
	}
	gone := time.Now()
	conn.CloseNow()
	return s.waitGone(ctx, i, gone)
}

// goneProcesses lists the processes of run i named soakgone-i.
func (s *soak) goneProcesses(i int) []int {
	lo, hi := s.d.runUIDs()
	pids, _ := leftovers.Processes(lo, hi)
	want := fmt.Sprintf("soakgone-%d\x00", i)
	return slices.DeleteFunc(pids, func(p int) bool {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		return !bytes.HasPrefix(cmd, []byte(want))
	})
}

// waitGone waits for run i's process to go after its client did.
func (s *soak) waitGone(ctx context.Context, i int, since time.Time) error {
	limit := timescale.D(5 * time.Second)
	for {
		left := s.goneProcesses(i)
		if len(left) == 0 {
			return nil
		}
		if time.Since(since) > limit {
			return fmt.Errorf("the run's process %v outlived its client by %v", left, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *soak) httpExpect(ctx context.Context, i int, j job, w soakWant) error {
	r, err := s.httpRun(ctx, i, j)
	if err != nil {
		return err
	}
	s.note(r)
	if err := r.expect(w); err != nil {
		return err
	}
	// The memory limit was reached, not merely approached.
	if w.oomKilled && r.memoryPeak < soakMemoryMiB<<20*9/10 {
		return fmt.Errorf("memory_peak %d bytes for a run killed by the memory limit", r.memoryPeak)
	}
	return nil
}

// httpRun posts j as msgpack to the HTTP API, retrying while every slot is
// taken.
func (s *soak) httpRun(ctx context.Context, i int, j job) (soakResult, error) {
	j = withIndex(j, i)
	body := mustEncode(j)
	for {
		status, b, err := s.post(ctx, "application/msgpack", body)
		if err != nil {
			return soakResult{}, err
		}
		if status == http.StatusServiceUnavailable {
			s.mu.Lock()
			s.http503++
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return soakResult{}, fmt.Errorf("503 until %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if status != http.StatusOK {
			return soakResult{}, fmt.Errorf("status %d: %q", status, b)
		}
		var r protocol.ExecuteResponse
		if rest, err := r.UnmarshalMsg(b); err != nil || len(rest) != 0 {
			return soakResult{}, fmt.Errorf("decoding the answer: %v (%d bytes left)", err, len(rest))
		}
		return soakResult{
			api: "HTTP", stdout: string(r.Stdout), stderr: string(r.Stderr), status: status0(r.StatusType, r.StatusValue),
			timedOut: r.TimedOut, truncated: [2]bool{r.StdoutTruncated, r.StderrTruncated},
			oomKilled: r.OOMKilled, memoryPeak: r.MemoryPeak, real: time.Duration(r.Real), cpu: time.Duration(r.User + r.Kernel), timeout: j.timeout,
		}, nil
	}
}

// post sends body to POST /api/v1/execute, asking for an answer in the
// request's format.
func (s *soak) post(ctx context.Context, contentType string, body []byte) (int, []byte, error) {
	resp, b, err := testclient.PostExecute(ctx, s.http, "http://"+s.d.addr, contentType, contentType, body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// soakBadCase is a bad request and how the server must refuse it.
type soakBadCase struct {
	name   string
	text   bool // sent as a text message
	code   websocket.StatusCode
	reason string
}

var soakBadCases = []soakBadCase{
	{"invalid type byte", false, 1008, "invalid request: invalid msgpack: invalid type byte 0xc1"},
	{"empty message", false, 1008, "invalid request: invalid msgpack: unexpected end of data"},
	{"not a map", false, 1008, "invalid request: not a msgpack map"},
	{"truncated map", false, 1008, "invalid request: invalid msgpack: unexpected end of data"},
	{"unknown language", false, 1008, "invalid request: no such language: ZSH"},
	{"timeout 61", false, 1008, "invalid request: timeout not in range 1-60: 61"},
	{"timeout as str", false, 1008, "invalid request: timeout: expected an integer, got str"},
	{"missing input", false, 1008, "invalid request: missing field: input"},
	{"NUL in an argument", false, 1008, "invalid request: argument contains null byte"},
	{"duplicate code", false, 1008, "invalid request: duplicate field: code"},
	{"extra data", false, 1008, "invalid request: found extra data"},
	{"text message", true, 1003, "expected a binary message"},
	{"65537 bytes", false, 1009, "received message of size 65537, greater than size limit 65536"},
}

// soakBadFrames builds each bad case's message.
func soakBadFrames(t *testing.T) map[string][]byte {
	base := []field{{"language", "bash"}, {"code", []byte("echo hi")}, {"input", []byte{}}, {"options", []string{}}, {"arguments", []string{}}}
	with := func(extra ...field) []byte { return encodeMap(t, append(slices.Clone(base), extra...)...) }
	set := func(key string, v any) []byte {
		fs := slices.Clone(base)
		for i := range fs {
			if fs[i].key == key {
				fs[i].value = v
			}
		}
		return encodeMap(t, fs...)
	}
	frames := map[string][]byte{
		"invalid type byte":  {0xc1, 0x00},
		"empty message":      {},
		"not a map":          {0x93, 1, 2, 3},
		"truncated map":      with()[:20],
		"unknown language":   set("language", "ZSH"),
		"timeout 61":         with(field{"timeout", 61}),
		"timeout as str":     with(field{"timeout", "60"}),
		"missing input":      encodeMap(t, base[0], base[1], base[3], base[4]),
		"NUL in an argument": set("arguments", []string{"a", "b\x00"}),
		"duplicate code":     with(field{"code", []byte("echo again")}),
		"extra data":         append(with(), 0xc0),
		"text message":       []byte(`{"language": "bash"}`),
		"65537 bytes":        paddedRequest(t, 65537),
	}
	for _, c := range soakBadCases {
		if _, ok := frames[c.name]; !ok {
			t.Fatalf("no frame for bad case %q", c.name)
		}
	}
	return frames
}

// soakBadVariants are the bad cases on v0, on v1 (on a connection that has
// just carried a run, since v1 takes requests until one is bad), and the
// HTTP API's answer to one of them.
func soakBadVariants() []soakVariant {
	var vs []soakVariant
	for _, c := range soakBadCases {
		vs = append(vs, soakVariant{"v0 " + c.name, func(ctx context.Context, s *soak, i int) error {
			r, ce, err := s.v0(ctx, messageType(c.text), s.badFrames[c.name])
			if err != nil {
				return err
			}
			if r != nil {
				return errors.New("a refused request got a result")
			}
			return c.check(ce)
		}})
	}
	for _, c := range soakBadCases {
		vs = append(vs, soakVariant{"v1 " + c.name, func(ctx context.Context, s *soak, i int) error {
			conn, err := s.dialV1(ctx)
			if err != nil {
				return err
			}
			defer conn.conn.CloseNow()
			if i%2 == 0 {
				// A run first: a bad request on a used connection ends it
				// as on a new one.
				if err := conn.send(ctx, mustEncode(withIndex(job{language: "bash", code: `echo "$1"`, timeout: scaledTimeout(10)}, i))); err != nil {
					return err
				}
				frames, err := conn.untilDone(ctx, nil)
				if err != nil {
					return err
				}
				if err := v1Result(frames, 10).expect(soakWant{stdout: fmt.Sprintf("%d\n", i), status: "exited/0"}); err != nil {
					return fmt.Errorf("the run before the bad request: %w", err)
				}
			}
			if err := conn.conn.Write(ctx, messageType(c.text), s.badFrames[c.name]); err != nil {
				return fmt.Errorf("writing: %w", err)
			}
			f, err := conn.next(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				return fmt.Errorf("got %s %v, want a close", f.stream, err)
			}
			return c.check(ce)
		}})
	}
	vs = append(vs, soakVariant{"HTTP unknown language", func(ctx context.Context, s *soak, i int) error {
		status, b, err := s.post(ctx, "application/json", []byte(`{"language": "ZSH", "code": "", "input": "", "options": [], "arguments": []}`))
		if err != nil {
			return err
		}
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error != "invalid request: no such language: ZSH" {
			return fmt.Errorf("status %d %q, want 400 with the reason", status, b)
		}
		return nil
	}})
	return vs
}

func messageType(text bool) websocket.MessageType {
	if text {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

func (c soakBadCase) check(ce websocket.CloseError) error {
	if ce.Code != c.code || ce.Reason != c.reason {
		return fmt.Errorf("close %d %q, want %d %q", ce.Code, ce.Reason, c.code, c.reason)
	}
	return nil
}

// soakSample is the daemon measured while idle, between batches of runs.
type soakSample struct {
	label           string
	runs            int // runs done before it
	fds, threads    int
	goroutines      int
	heapKiB, rssKiB int64
	leftovers       []string
	fdTargets       []string
}

// sample measures the serving daemon once its runs have ended: leftovers
// (waited for, as the runs of gone clients end just after), descriptors,
// threads, resident memory, and, from its stats log line (SIGUSR1),
// goroutines and live heap. Descriptors and goroutines leave out the
// sandboxes prepared ahead (fdsPerPrepared and a waiter each), whose number
// follows demand.
func (s *soak) sample(t *testing.T, label string, runs int) soakSample {
	t.Helper()
	smp := soakSample{label: label, runs: runs}
	for deadline := time.Now().Add(timescale.D(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		var err error
		smp.leftovers, err = leftovers.Find(s.d.scope())
		if err != nil {
			t.Fatal(err)
		}
		if len(smp.leftovers) == 0 || time.Now().After(deadline) {
			break
		}
	}
	pid := s.d.servingPID(t)
	members := len(s.d.poolMembers(t))
	smp.fdTargets = fdTargets(t, pid)
	smp.fds = len(smp.fdTargets) - fdsPerPrepared()*members
	smp.threads = procStatusInt(t, pid, "Threads:")
	smp.rssKiB = rssKiB(t, pid)
	smp.goroutines, smp.heapKiB = s.d.stats(t, pid)
	smp.goroutines -= members
	return smp
}

// settle waits until the daemon holds no more descriptors and goroutines
// than after the warm-up (connections the clients closed are closed by the
// daemon a moment later), fails the test if it does not, and checks that
// threads and memory grew within bounds.
func (s *soak) settle(t *testing.T, warm soakSample) soakSample {
	t.Helper()
	var final soakSample
	for deadline := time.Now().Add(timescale.D(5 * time.Second)); ; time.Sleep(50 * time.Millisecond) {
		final = s.sample(t, "end", warm.runs)
		if (final.fds <= warm.fds && final.goroutines <= warm.goroutines) || time.Now().After(deadline) {
			break
		}
	}
	final.runs = -1
	if final.fds > warm.fds {
		t.Errorf("the daemon holds %d descriptors, %d after the warm-up; now %q, then %q", final.fds, warm.fds, final.fdTargets, warm.fdTargets)
	}
	if final.goroutines > warm.goroutines {
		t.Errorf("the daemon has %d goroutines, %d after the warm-up", final.goroutines, warm.goroutines)
	}
	// Threads are the runtime's: it keeps those it started for the most
	// blocking system calls at once, which concurrency bounds.
	if final.threads > warm.threads+2*soakConcurrency {
		t.Errorf("the daemon has %d threads, %d after the warm-up", final.threads, warm.threads)
	}
	if final.heapKiB > warm.heapKiB+4<<10 {
		t.Errorf("the daemon's live heap grew from %d KiB after the warm-up to %d KiB", warm.heapKiB, final.heapKiB)
	}
	if final.rssKiB > warm.rssKiB+32<<10 {
		t.Errorf("the daemon's resident memory grew from %d KiB after the warm-up to %d KiB", warm.rssKiB, final.rssKiB)
	}
	return final
}

// checkSlots checks that every run slot is free after the soak: as many runs
// as slots all start, and the HTTP API then answers 503, so that no slot
// was lost and none was added.
func (s *soak) checkSlots(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(time.Minute))
	defer cancel()
	var conns []*soakConn
	for i := range soakConcurrency {
		c, err := s.dialV1(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.conn.CloseNow()
		if err := c.send(ctx, mustEncode(withIndex(job{language: "bash", code: soakSleep, timeout: 60}, i))); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if _, err := c.untilOutput(ctx, fmt.Sprintf("t%d\n", i)); err != nil {
			t.Fatalf("run %d of %d at once: %v", i+1, soakConcurrency, err)
		}
	}
	status, b, err := s.post(ctx, "application/msgpack", mustEncode(job{language: "bash", code: "true"}))
	if err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("with %d runs going, the HTTP API answered %d %q (%v), want 503", soakConcurrency, status, b, err)
	}
	for _, c := range conns {
		if err := c.send(ctx, msgp.AppendString(nil, "Kill")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.untilDone(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// cpuTime is the CPU time process pid and its children it has waited for
// have used: for the daemon, also its runs, whose inits it waits for.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// utime, stime, cutime and cstime are fields 14-17; the command
	// (field 2) is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// procStatusInt is the number after key in /proc/pid/status.
func procStatusInt(t *testing.T, pid int, key string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("%s %q: %v", key, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// stats asks the serving daemon (pid) for its stats log line with SIGUSR1
// and returns its goroutines and live heap.
func (d *daemon) stats(t *testing.T, pid int) (goroutines int, heapKiB int64) {
	t.Helper()
	type statsLine struct {
		Msg        string `json:"msg"`
		Goroutines int    `json:"goroutines"`
		HeapLive   int64  `json:"heap_live_bytes"`
	}
	lines := func() []statsLine {
		var found []statsLine
		for _, l := range strings.Split(d.logs(), "\n") {
			var s statsLine
			if strings.Contains(l, `"stats"`) && json.Unmarshal([]byte(l), &s) == nil && s.Msg == "stats" {
				found = append(found, s)
			}
		}
		return found
	}
	before := len(lines())
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatalf("signalling the daemon: %v", err)
	}
	var got []statsLine
	waitFor(t, "the daemon's stats line", func() bool { got = lines(); return len(got) > before })
	last := got[len(got)-1]
	return last.Goroutines, last.HeapLive >> 10
}
