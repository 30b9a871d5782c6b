package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
		wake: make(chan struct{}, 1), afterFunc: func(time.Duration, func()) {}, renew: (*prepared).renewRunner}
	sb.pool = pl
	pl.demand[held] = &demand{last: time.Now()}
	for i := range slots {
		p := &prepared{s: sb, key: held, slot: i, id: fmt.Sprintf("atod-stub%d", i)}
		pl.idle[held] = append(pl.idle[held], p)
		pl.mark(p)
	}
	return pl, sb
}

// awaitSlotBack waits for the slot of a sandbox torn down in the background
// (what says which) to come back to sb.
func awaitSlotBack(t *testing.T, sb *Sandbox, what string) {
	t.Helper()
	select {
	case <-sb.slots:
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatalf("%s: its slot did not come back", what)
	}
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

// heldTrees hold every image's tree at "" (a stub template's rootfs).
type heldTrees struct{}

func (heldTrees) Hold(string) (string, func(), error) { return "", func() {}, nil }

// TestExpiredAreReplaced: a prepared sandbox whose runner may have stopped
// waiting on its lease (lease_linux.go) is never handed over: a run takes
// the next one, and the pool's look discards it, and one that would expire
// before its next look, so that the refiller replaces them.
func TestExpiredAreReplaced(t *testing.T) {
	a := template{image: "a"}
	pl, sb := stubPool(t, 3, a)
	pl.trees = heldTrees{}
	now := time.Now()
	idle := pl.idle[a]
	idle[0].expires = now.Add(-time.Second)
	idle[1].expires = now.Add(time.Minute)
	idle[2].expires = now.Add(2 * time.Minute)
	if p := pl.takeIdle(a); p != idle[1] {
		t.Fatalf("a run took %v, want the one whose runner may still wait (%s)", p, idle[1].id)
	}
	awaitSlotBack(t, sb, "the expired sandbox")
	idle[2].expires = now.Add(time.Second) // before the next look
	pl.shrink(now)
	awaitSlotBack(t, sb, "the sandbox about to expire")
	if n := len(pl.idle[a]); n != 0 {
		t.Errorf("%d idle after the look, want 0", n)
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

// TestRenewedAhead: an idle sandbox due for its runner's restart
// (renewBefore) still counts toward its template's want: the refiller's
// next look restarts it, and nothing is prepared meanwhile. Only one
// about to be discarded (discardBefore), its restart having failed or
// not come, is replaced.
func TestRenewedAhead(t *testing.T) {
	now := time.Now()
	a := template{image: "a"}
	p := &prepared{expires: now.Add(time.Minute)}
	pl := &pool{max: 4, idle: map[template][]*prepared{a: {p}}, demand: map[template]*demand{a: {last: now, peakAt: now}}, restarting: true}
	if k, ok := pl.neediestLocked(now); ok {
		t.Errorf("neediest %v with its one sandbox good for a minute", k)
	}
	p.expires = now.Add((renewBefore + discardBefore) / 2)
	if k, ok := pl.neediestLocked(now); ok {
		t.Errorf("neediest %v with its one sandbox due for a restart of its runner", k)
	}
	// Where the kernel refused a restart's lease, none is restarted: its
	// replacement is prepared while it still serves.
	pl.restarting = false
	if k, ok := pl.neediestLocked(now); !ok || k != a {
		t.Errorf("neediest %v %v with its one sandbox about to expire and no restarts, want a", k, ok)
	}
	pl.restarting = true
	p.expires = now.Add(discardBefore / 2)
	if k, ok := pl.neediestLocked(now); !ok || k != a {
		t.Errorf("neediest %v %v with its one sandbox about to be discarded, want a", k, ok)
	}
}

// TestFailedRenewalDiscards: an idle sandbox due for its runner's restart
// whose restart fails is discarded (its slot comes back, its mark goes),
// and the others stay; restarts go on for the next ones, as the failure is
// the sandbox's, not the kernel's.
func TestFailedRenewalDiscards(t *testing.T) {
	a := template{image: "a"}
	pl, sb := stubPool(t, 2, a)
	pl.restarting = true
	now := time.Now()
	idle := pl.idle[a]
	idle[0].expires = now.Add(renewBefore / 2) // due; a stub, its restart fails
	idle[1].expires = now.Add(time.Minute)
	pl.renewExpiring(now)
	awaitSlotBack(t, sb, "the sandbox whose restart failed (discarded)")
	if got := pl.idle[a]; len(got) != 1 || got[0] != idle[1] {
		t.Errorf("idle %v after the failed restart, want only %s", got, idle[1].id)
	}
	if marks, _ := os.ReadDir(pl.dir); len(marks) != 1 {
		t.Errorf("%d marks after the failed restart, want 1", len(marks))
	}
	if !pl.restarting {
		t.Error("restarts stopped after a failure of one sandbox's own")
	}
}

// TestRefusedRenewalFallsBack: where the kernel refuses a restarted
// runner's fresh lease (errLeaseRefused: before Linux 5.8 a write lease
// needs the file referred to nowhere else, and the sandbox mounts it), the
// pool stops restarting runners: the refused sandbox is discarded, the
// others due go back to serve without an attempt, and from then on they
// count as fresh only renewBefore ahead of their end, so that replacements
// are prepared while they still serve.
func TestRefusedRenewalFallsBack(t *testing.T) {
	a := template{image: "a"}
	pl, sb := stubPool(t, 3, a)
	pl.restarting = true
	now := time.Now()
	for _, p := range pl.idle[a] {
		p.expires = now.Add(renewBefore / 2)
	}
	var tried []*prepared
	pl.renew = func(p *prepared) error {
		tried = append(tried, p)
		return fmt.Errorf("%w: %w", errLeaseRefused, unix.EAGAIN)
	}
	pl.renewExpiring(now)
	awaitSlotBack(t, sb, "the sandbox whose restart was refused (discarded)")
	if len(tried) != 1 {
		t.Errorf("%d restarts tried, want 1: the kernel's refusal holds for all", len(tried))
	}
	if pl.restarting {
		t.Error("restarts go on after the kernel refused a fresh lease")
	}
	if got := pl.idle[a]; len(got) != 2 || len(tried) > 0 && slices.Contains(got, tried[0]) {
		t.Errorf("idle %v after the refusal, want the two not tried", got)
	}
	if marks, _ := os.ReadDir(pl.dir); len(marks) != 2 {
		t.Errorf("%d marks after the refusal, want 2", len(marks))
	}
	pl.mu.Lock()
	fresh := pl.freshLocked(a, now)
	pl.mu.Unlock()
	if fresh != 0 {
		t.Errorf("%d fresh after the refusal, want 0: they end within renewBefore and are not restarted", fresh)
	}
	pl.renewExpiring(now)
	if len(tried) != 1 || len(pl.idle[a]) != 2 {
		t.Errorf("a later look tried %d restarts and left %d idle, want 1 and 2", len(tried), len(pl.idle[a]))
	}
}

// TestRenewedGivenToWaitingRun: a run that finds every slot held while the
// idle sandboxes are out for their runners' restarts has no victim to
// evict; the restarts give it the slot of one of them, and only one.
func TestRenewedGivenToWaitingRun(t *testing.T) {
	a, b := template{image: "a"}, template{image: "b"}
	pl, sb := stubPool(t, 2, a)
	pl.restarting = true
	now := time.Now()
	// A discarded one gives its slot back only once the restarts are
	// over: the run waits all along, as a slower teardown would have it.
	restartsOver := make(chan struct{})
	for _, p := range pl.idle[a] {
		p.expires = now.Add(renewBefore / 2)
		p.hold = func() { <-restartsOver }
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(10*time.Second))
	defer cancel()
	type acquired struct {
		slot int
		err  error
	}
	got := make(chan acquired, 1)
	renewed := 0
	pl.renew = func(p *prepared) error {
		if renewed == 0 { // a run of b comes while both are out
			go func() {
				slot, _, err := pl.acquireSlot(ctx, b)
				got <- acquired{slot, err}
			}()
			atodtest.WaitFor(t, 10*time.Second, "the run of b waiting for a slot", func() bool {
				pl.mu.Lock()
				defer pl.mu.Unlock()
				return pl.waiting == 1
			})
		}
		renewed++
		p.expires = now.Add(time.Minute)
		return nil
	}
	pl.renewExpiring(now)
	close(restartsOver)
	r := <-got
	if r.err != nil {
		t.Fatalf("the run that waited while both were renewed got no slot: %v", r.err)
	}
	sb.slots <- r.slot
	if n := len(pl.idle[a]); n != 1 {
		t.Errorf("%d idle after the restarts, want 1: one gave its slot up", n)
	}
	if marks, _ := os.ReadDir(pl.dir); len(marks) != 1 {
		t.Errorf("%d marks after the restarts, want 1", len(marks))
	}
}
