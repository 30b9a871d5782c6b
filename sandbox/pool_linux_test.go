package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
)

// TestDemandWant: a template wants as many prepared sandboxes as ran at once
// lately, at least one, and shrinks back once shrinkAfter passed.
func TestDemandWant(t *testing.T) {
	t0 := time.Now()
	d := &demand{peakAt: t0}
	if w := d.want(t0); w != 1 {
		t.Errorf("unused: want %d, want 1 (the minimum warm)", w)
	}
	d.inFlight, d.peak = 3, 3
	d.inFlight = 0
	if w := d.want(t0.Add(shrinkAfter / 2)); w != 3 {
		t.Errorf("3 at once lately: want %d, want 3", w)
	}
	if w := d.want(t0.Add(shrinkAfter + time.Second)); w != 1 {
		t.Errorf("after shrinkAfter idle: want %d, want 1", w)
	}
	// A busy moment late in the window counts for a whole window from
	// then.
	late := t0.Add(2*shrinkAfter - time.Second)
	for range 4 {
		d.started(late)
	}
	d.inFlight = 0
	if w := d.want(late.Add(shrinkAfter - time.Second)); w != 4 {
		t.Errorf("4 at once %v ago: want %d, want 4", shrinkAfter-time.Second, w)
	}
}

// TestNeediest: the refiller serves the template furthest short of its
// want, the one used last among equals, skips one whose preparation just
// failed, and prepares nothing while a run waits for a slot or the pool is
// full.
func TestNeediest(t *testing.T) {
	now := time.Now()
	a, b, c := template{image: "a"}, template{image: "b"}, template{image: "c"}
	pl := &pool{max: 4, idle: map[template][]*prepared{}, demand: map[template]*demand{
		a: {last: now.Add(-2 * time.Second), peak: 1, peakAt: now},
		b: {last: now.Add(-time.Second), peak: 1, peakAt: now},
		c: {last: now.Add(-3 * time.Second), peak: 3, peakAt: now},
	}}
	if k, ok := pl.neediestLocked(now); !ok || k != c {
		t.Errorf("neediest %v %v, want c (3 short)", k, ok)
	}
	pl.idle[c] = []*prepared{{}, {}, {}}
	if k, ok := pl.neediestLocked(now); !ok || k != b {
		t.Errorf("neediest %v %v, want b (1 short, used last)", k, ok)
	}
	pl.demand[b].retryAfter = now.Add(retryAfter)
	if k, ok := pl.neediestLocked(now); !ok || k != a {
		t.Errorf("neediest %v %v, want a (b failed just now)", k, ok)
	}
	pl.waiting = 1
	if k, ok := pl.neediestLocked(now); ok {
		t.Errorf("neediest %v while a run waits for a slot", k)
	}
	pl.waiting = 0
	pl.idle[a] = []*prepared{{}}
	if k, ok := pl.neediestLocked(now); ok {
		t.Errorf("neediest %v with the pool full (%d of %d)", k, pl.countLocked(), pl.max)
	}
}

// stubPool is a pool over a Sandbox of slots slots, all held by idle
// sandboxes of template held (stubs: nothing to kill or unmount).
func stubPool(t *testing.T, slots int, held template) (*pool, *Sandbox) {
	t.Helper()
	sb := &Sandbox{slots: make(chan int, slots), log: slog.New(slog.DiscardHandler)}
	pl := &pool{s: sb, max: slots, dir: t.TempDir(), idle: map[template][]*prepared{}, demand: map[template]*demand{},
		wake: make(chan struct{}, 1), afterFunc: func(time.Duration, func()) {}}
	sb.pool = pl
	pl.demand[held] = &demand{last: time.Now()}
	for i := range slots {
		p := &prepared{s: sb, key: held, slot: i, id: fmt.Sprintf("atod-stub%d", i)}
		pl.idle[held] = append(pl.idle[held], p)
		pl.mark(p)
	}
	return pl, sb
}

// TestAcquireSlot: with every slot held by idle sandboxes, a run of another
// template evicts one and gets its slot; a run of their own template gets
// one of them; and nothing is lost or doubled: the slots held and free
// always add up to the Sandbox's.
func TestAcquireSlot(t *testing.T) {
	a, b := template{image: "a"}, template{image: "b"}
	pl, sb := stubPool(t, 2, a)
	ctx := context.Background()
	slot, p, err := pl.acquireSlot(ctx, b)
	if err != nil || p != nil {
		t.Fatalf("a run of b: slot %d, prepared %v, err %v; want an evicted slot", slot, p, err)
	}
	if n := len(pl.idle[a]); n != 1 {
		t.Errorf("%d idle sandboxes of a after the eviction, want 1", n)
	}
	if marks, _ := os.ReadDir(pl.dir); len(marks) != 1 {
		t.Errorf("%d marks after the eviction, want 1", len(marks))
	}
	_, p, err = pl.acquireSlot(ctx, a)
	if err != nil || p == nil || p.key != a {
		t.Fatalf("a run of a: prepared %v, err %v; want the idle one", p, err)
	}
	if n := len(pl.idle[a]) + len(sb.slots); n != 0 {
		t.Errorf("%d slots idle or free, want 0 (one run of b, one of a)", n)
	}
	// Nothing to evict: the run waits, and gives up with its context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := pl.acquireSlot(cctx, b); err == nil {
		t.Errorf("a run with no slot and nothing to evict got one")
	}
	// The runs end: their sandboxes' teardowns give the slots back.
	sb.slots <- slot
	if err := p.teardown(); err != nil {
		t.Fatal(err)
	}
	if len(sb.slots) != 2 {
		t.Errorf("%d slots free at the end, want 2", len(sb.slots))
	}
}

// TestDemandCounts: a run's count ends on the demand it started on, even
// when its template was forgotten and counted again meanwhile.
func TestDemandCounts(t *testing.T) {
	a := template{image: "a"}
	pl, _ := stubPool(t, 1, a)
	pl.trees = fakeTrees{}
	d1 := pl.count(a)
	pl.mu.Lock()
	pl.forgetLocked(a)
	pl.mu.Unlock()
	d2 := pl.count(a)
	if d1 == d2 || d2.inFlight != 1 {
		t.Fatalf("after forgetting, a run counts on the old demand (%p, %p, in flight %d)", d1, d2, d2.inFlight)
	}
	// what sandboxFor's done does, for the first run
	pl.mu.Lock()
	d1.inFlight--
	pl.mu.Unlock()
	if d2.inFlight != 1 {
		t.Errorf("the first run's end counted on the new demand: in flight %d", d2.inFlight)
	}
	d2.inFlight = 0
	if w := d2.want(time.Now()); w != 1 {
		t.Errorf("want %d with nothing in flight, want 1", w)
	}
}

// awaitClaim waits until a run waits for f.
func awaitClaim(t *testing.T, pl *pool, f *preparation) {
	t.Helper()
	atodtest.WaitFor(t, 10*time.Second, "the run to wait for the preparation", func() bool {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return f.claimed
	})
}

type fakeTrees struct{}

func (fakeTrees) Hold(name string) (string, func(), error) { return name, func() {}, nil }

// TestRunWaitsForPreparation: a run that finds no idle sandbox of its
// template waits for the one the refiller is making for it, rather than
// making a second at the same time; one run waits per preparation, and a
// run whose context ends stops waiting.
func TestRunWaitsForPreparation(t *testing.T) {
	a, b := template{image: "a"}, template{image: "b"}
	pl, _ := stubPool(t, 1, a)
	pl.trees = fakeTrees{}
	pl.takeIdle(a) // the only slot is a run's: a run that waits gets none
	f := &preparation{key: a, done: make(chan struct{})}
	pl.preparing = f
	type got struct {
		p   *prepared
		err error
	}
	res := make(chan got, 1)
	go func() {
		p, done, err := pl.sandboxFor(context.Background(), a)
		done()
		res <- got{p, err}
	}()
	awaitClaim(t, pl, f)
	if pl.claim(a) != nil || pl.claim(b) != nil {
		t.Errorf("a claimed preparation, or one of another template, was claimed again")
	}
	ready := &prepared{s: pl.s, key: a, id: "atod-stubready"}
	pl.mu.Lock() // what prepareOne does when it is done
	pl.idle[a] = append(pl.idle[a], ready)
	pl.preparing = nil
	close(f.done)
	pl.mu.Unlock()
	select {
	case r := <-res:
		if r.err != nil || r.p != ready {
			t.Errorf("the run got %v, %v; want the sandbox prepared meanwhile", r.p, r.err)
		}
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatal("the run did not get the sandbox prepared for it")
	}

	// A run whose context ends stops waiting.
	pl.preparing = &preparation{key: a, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, done, err := pl.sandboxFor(ctx, a); err == nil || !strings.Contains(err.Error(), "being prepared") {
		t.Errorf("a run whose context ended while a sandbox was prepared for it: %v", err)
	} else {
		done()
	}

	// A preparation that fails leaves its run to find a slot as it would
	// have (here it waits for one, and gives up with its context).
	f = &preparation{key: a, done: make(chan struct{})}
	pl.preparing = f
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() {
		p, done, err := pl.sandboxFor(ctx, a)
		done()
		res <- got{p, err}
	}()
	awaitClaim(t, pl, f)
	pl.mu.Lock()
	pl.preparing = nil
	close(f.done) // failed: nothing joined the idle ones
	pl.mu.Unlock()
	atodtest.WaitFor(t, 10*time.Second, "the run to wait for a slot instead", func() bool {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return pl.waiting == 1
	})
	cancel()
	select {
	case r := <-res:
		if r.err == nil || !strings.Contains(r.err.Error(), "free slot") {
			t.Errorf("the run got %v, %v; want to have waited for a slot", r.p, r.err)
		}
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatal("the run did not give up with its context")
	}
}

// TestRefillWakesDuringRuns: a run's start wakes the refiller, but only
// refillAfterStart into the run (not at once: it would compete with the
// run's start), so that a longer run's replacement is prepared while it
// runs, not only once it ends.
func TestRefillWakesDuringRuns(t *testing.T) {
	a := template{image: "a"}
	pl, _ := stubPool(t, 1, a)
	pl.trees = fakeTrees{}
	var after time.Duration
	var fire func()
	pl.afterFunc = func(d time.Duration, f func()) { after, fire = d, f }
	pl.count(a)
	select {
	case <-pl.wake:
		t.Fatal("a run's start woke the refiller at once")
	default:
	}
	if fire == nil || after != refillAfterStart {
		t.Fatalf("a run's start scheduled a wake-up: %v, after %v; want one after %v", fire != nil, after, refillAfterStart)
	}
	fire()
	select {
	case <-pl.wake:
	default:
		t.Fatal("the scheduled wake-up did not wake the refiller")
	}
}

// TestEndedAreDiscarded: a prepared sandbox whose init has reported (its
// runner, started ahead, ended while it waited: the OOM killer's pick) is
// never handed over, though init may not have exited yet.
func TestEndedAreDiscarded(t *testing.T) {
	a := template{image: "a"}
	pl, _ := stubPool(t, 2, a)
	idle := pl.idle[a]
	for _, p := range idle {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		p.report = r
		if p == idle[0] {
			w.WriteString(`{"wait_status":9}` + "\n")
		}
	}
	if p := pl.takeIdle(a); p != idle[1] {
		t.Fatalf("a run took %v, want the one whose init has not reported (%s)", p, idle[1].id)
	}
}

// TestShrinkDiscardsDead: the pool's look discards an idle sandbox whose
// init died or reported (its runner ended), giving its slot back, so that
// the refiller replaces it before a run finds it, after a while, as after a
// failed preparation.
func TestShrinkDiscardsDead(t *testing.T) {
	a := template{image: "a"}
	pl, sb := stubPool(t, 3, a)
	pl.trees = heldTrees{}
	pl.demand[a].peak, pl.demand[a].peakAt = 3, time.Now()
	idle := slices.Clone(pl.idle[a])
	for _, p := range idle {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		p.report = r
		if p == idle[0] {
			w.WriteString(`{"wait_status":9}` + "\n")
		}
	}
	idle[1].waited = make(chan struct{})
	close(idle[1].waited)
	pl.shrink(time.Now())
	for range 2 {
		select {
		case <-sb.slots:
		case <-time.After(timescale.D(10 * time.Second)):
			t.Fatal("the dead sandboxes' slots did not come back")
		}
	}
	if got := pl.idle[a]; len(got) != 1 || got[0] != idle[2] {
		t.Errorf("idle %v after the look, want only the live %s", got, idle[2].id)
	}
	if marks, _ := os.ReadDir(pl.dir); len(marks) != 1 {
		t.Errorf("%d marks after the look, want 1", len(marks))
	}
	if !time.Now().Before(pl.demand[a].retryAfter) {
		t.Error("dead ones do not put off the next preparation: under memory pressure they would be replaced, and killed, every second")
	}
}

// heldTrees hold every image's tree at "" (a stub template's rootfs).
type heldTrees struct{}

func (heldTrees) Hold(string) (string, func(), error) { return "", func() {}, nil }

// TestEndedIgnoresSignals: a signal that interrupts the look at an idle
// sandbox's report pipe (the Go runtime's preemption signal, SIGURG, sent to
// a thread the garbage collector stops) is no report: taken for one, it
// discarded a waiting sandbox now and then, and the next run took the cold
// path.
func TestEndedIgnoresSignals(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p := &prepared{report: r}
	tid := make(chan int)
	stop := make(chan struct{})
	var looks, ended int
	go func() {
		defer close(tid)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		for looks = 0; looks < 20000; looks++ {
			if p.ended() {
				ended++
			}
		}
	}()
	thread := <-tid
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// The runtime takes a SIGURG it did not send as a preemption
			// request that finds nothing to do.
			_ = unix.Tgkill(unix.Getpid(), thread, unix.SIGURG)
		}
	}()
	<-tid // closed: the looks are done
	close(stop)
	if ended > 0 {
		t.Errorf("%d of %d looks at a silent report pipe, under signals, took it for a report", ended, looks)
	}
}
