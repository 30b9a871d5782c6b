package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Trees hold the image trees of sandboxes prepared ahead (the daemon gives
// its image store). A prepared sandbox mounts its image's tree, so the tree
// must outlive it even when the image is replaced meanwhile.
type Trees interface {
	// Hold keeps the current tree of image name from being collected until
	// release is called, and returns its root filesystem's path.
	Hold(name string) (rootfs string, release func(), err error)
}

// pool keeps sandboxes prepared ahead, per template, so that a run's
// request path is only handing over its files (prepared_linux.go). A
// background refiller prepares one at a time, never while a run waits for a
// slot nor into the last free slot, for the templates runs asked for lately:
// at least one for each (the minimum warm, while slots allow), and as many
// as ran at once in the last shrinkAfter. It wakes when a run ends or a slot
// comes back, and refillAfterStart into a run (not as it starts: it would
// compete with that run). A run that finds none idle waits for the one the
// refiller is making for its template, if no other run waits for it. Beyond
// their want they shrink, and those of an image that was replaced, or that
// no run asked for in forgetAfter, are discarded.
type pool struct {
	s     *Sandbox
	trees Trees // nil: nothing is prepared ahead
	max   int   // prepared sandboxes at most, across templates
	dir   string

	mu      sync.Mutex
	idle    map[template][]*prepared // oldest first
	demand  map[template]*demand
	waiting int // runs waiting for a slot

	// preparing is the refiller's preparation under way, if any.
	preparing *preparation

	// afterFunc calls f after d (time.AfterFunc; the tests' own, to see
	// what a run's start schedules).
	afterFunc func(d time.Duration, f func())

	wake chan struct{} // (buffered 1) something may be wanted
	stop chan struct{}
	done chan struct{}
}

// preparation is a sandbox the refiller is making for key; done is closed
// when it has joined key's idle sandboxes, failed, or was discarded. One run
// that finds none idle may wait for it (claimed): it has a head start on a
// sandbox the run would make itself, and two made at once on a busy host
// take longer each.
type preparation struct {
	key     template
	done    chan struct{}
	claimed bool
}

// shrinkAfter is how long a template keeps the sandboxes its busiest moment
// wanted; after it, only what runs at once now, and the minimum warm.
const shrinkAfter = 60 * time.Second

// refillAfterStart is how long into a run the refiller may start preparing
// its replacement: beyond what a trivial run takes (about 20 ms here), so
// that short runs have the machine to themselves.
const refillAfterStart = 50 * time.Millisecond

// forgetAfter is how long a template no run asked for keeps its minimum
// warm.
const forgetAfter = 10 * time.Minute

// retryAfter is how long a template whose preparation failed waits before
// the next try, doubled for each failure in a row up to maxRetryAfter.
const (
	retryAfter    = 5 * time.Second
	maxRetryAfter = 5 * time.Minute
)

// demand is what runs of one template asked for lately.
type demand struct {
	last       time.Time // the last run's start
	inFlight   int
	peak       int // most runs at once, last reached at peakAt
	peakAt     time.Time
	failures   int       // preparations failed in a row
	retryAfter time.Time // a failed preparation waits until then
}

// want is how many idle sandboxes of a template are wanted now: as many as
// ran at once in the last shrinkAfter, and at least one.
func (d *demand) want(now time.Time) int {
	if now.Sub(d.peakAt) > shrinkAfter {
		d.peak, d.peakAt = d.inFlight, now
	}
	return max(d.peak, 1)
}

// started counts a run that starts now.
func (d *demand) started(now time.Time) {
	d.last = now
	d.inFlight++
	if d.inFlight >= d.peak {
		d.peak, d.peakAt = d.inFlight, now
	}
}

// failed puts off the next preparation, longer for each failure in a row.
func (d *demand) failed(now time.Time) {
	wait := retryAfter << min(d.failures, 10)
	d.failures++
	d.retryAfter = now.Add(min(wait, maxRetryAfter))
}

// poolDir holds one empty file per idle prepared sandbox, named by its id:
// what tells a pool member from something a run left behind (package
// leftovers reads it: leftovers.PoolDir).
const poolDir = "prepared"

func newPool(s *Sandbox, trees Trees, maxPrepared int, stateDir string) (*pool, error) {
	pl := &pool{
		s: s, trees: trees, max: maxPrepared, dir: filepath.Join(stateDir, poolDir),
		idle: map[template][]*prepared{}, demand: map[template]*demand{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
	}
	if err := os.RemoveAll(pl.dir); err != nil { // a dead daemon's
		return nil, fmt.Errorf("removing stale pool directory: %w", err)
	}
	if err := os.Mkdir(pl.dir, 0o711); err != nil {
		return nil, fmt.Errorf("creating pool directory: %w", err)
	}
	if pl.enabled() {
		go pl.refill()
	} else {
		close(pl.done)
	}
	return pl, nil
}

func (pl *pool) enabled() bool { return pl.trees != nil && pl.max > 0 }

// sandboxFor returns a sandbox for a run of key: one prepared for it that
// waits idle, or one made now in a free slot (the cold path). done ends the
// run's count in key's demand; call it when the run is over.
func (pl *pool) sandboxFor(ctx context.Context, key template) (p *prepared, done func(), err error) {
	d := pl.count(key)
	done = func() {
		if d != nil {
			pl.mu.Lock()
			d.inFlight--
			pl.mu.Unlock()
			pl.signal()
		}
	}
	// At debug level each run says where its sandbox came from: the
	// share of runs the pool serves is what it is for.
	if p = pl.takeIdle(key); p != nil {
		pl.s.log.Debug("a run takes a prepared sandbox", "id", p.id, "image", key.image)
		return p, done, nil
	}
	if f := pl.claim(key); f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, done, fmt.Errorf("waiting for a sandbox being prepared: %w", ctx.Err())
		}
		if p = pl.takeIdle(key); p != nil {
			pl.s.log.Debug("a run takes the sandbox it waited for", "id", p.id, "image", key.image)
			return p, done, nil
		}
	}
	slot, p, err := pl.acquireSlot(ctx, key)
	if err != nil {
		return p, done, err
	}
	if p != nil {
		pl.s.log.Debug("a run that waited for a slot takes a prepared sandbox", "id", p.id, "image", key.image)
		return p, done, nil
	}
	p, err = pl.s.prepare(key, slot, pl.hold(key))
	if err == nil {
		pl.s.log.Debug("a run makes its own sandbox", "id", p.id, "image", key.image)
	}
	return p, done, err
}

// count counts a run of key in its demand, and returns that demand (nil
// when nothing is prepared for key).
func (pl *pool) count(key template) *demand {
	if key.image == "" || !pl.enabled() {
		return nil
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	d := pl.demand[key]
	if d == nil {
		d = &demand{}
		pl.demand[key] = d
	}
	// The refiller wakes when this run ends (done), or refillAfterStart
	// into it, whichever comes first: woken now, it would prepare the next
	// sandbox while this run starts, and on two cores that contention made
	// a trivial run's round trip 37 ms instead of 20 (issue 13); woken only
	// at the end, a client sending its next request at once after a longer
	// run would find no sandbox ready.
	d.started(time.Now())
	pl.afterFunc(refillAfterStart, pl.signal)
	return d
}

// claim returns the refiller's preparation for key, unless there is none
// or another run waits for it already.
func (pl *pool) claim(key template) *preparation {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	f := pl.preparing
	if f == nil || f.key != key || f.claimed {
		return nil
	}
	f.claimed = true
	return f
}

func (pl *pool) takeIdle(key template) *prepared {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.takeIdleLocked(key)
}

// takeIdleLocked removes and returns the oldest idle sandbox of key whose
// init, and runner started ahead, are alive; dead ones (the OOM killer takes
// them first) are discarded.
func (pl *pool) takeIdleLocked(key template) *prepared {
	for len(pl.idle[key]) > 0 {
		p := pl.idle[key][0]
		pl.idle[key] = pl.idle[key][1:]
		pl.unmark(p)
		if why := p.dead(); why != "" {
			pl.s.log.Warn(why, "id", p.id)
			go pl.discardLogged(p)
			continue
		}
		return p
	}
	return nil
}

func (pl *pool) signal() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// hold keeps key's tree for a sandbox made on the cold path, so that its
// teardown may come after the run's caller let go of the image. It returns
// nil when it cannot, the image having changed since the caller looked it
// up, and when nothing is prepared ahead (--prepared 0, the plain cold
// path): then the sandbox is torn down before Run returns, under the
// caller's hold.
func (pl *pool) hold(key template) func() {
	if !pl.enabled() || key.image == "" {
		return nil
	}
	release, err := pl.holdTree(key)
	if err != nil {
		return nil
	}
	return release
}

// holdTree holds key's image's tree, if it is still key's: the image may
// have been replaced (errImageChanged) or removed since key was made.
func (pl *pool) holdTree(key template) (release func(), err error) {
	rootfs, release, err := pl.trees.Hold(key.image)
	if err != nil {
		return nil, err
	}
	if rootfs != key.rootfs {
		release()
		return nil, errImageChanged
	}
	return release, nil
}

// acquireSlot waits for a free slot for a run of key. When none is free,
// a sandbox prepared for key meanwhile is taken instead, or an idle one of
// the template used least lately gives up its slot: runs come before
// sandboxes prepared for other ones.
func (pl *pool) acquireSlot(ctx context.Context, key template) (int, *prepared, error) {
	select {
	case slot := <-pl.s.slots:
		return slot, nil, nil
	default:
	}
	pl.mu.Lock()
	if p := pl.takeIdleLocked(key); p != nil {
		pl.mu.Unlock()
		return 0, p, nil
	}
	pl.waiting++
	victim := pl.leastWantedLocked()
	pl.mu.Unlock()
	defer func() {
		pl.mu.Lock()
		pl.waiting--
		pl.mu.Unlock()
		pl.signal()
	}()
	if victim != nil {
		if err := victim.teardown(); err != nil {
			pl.s.log.Error("discarding a prepared sandbox", "id", victim.id, "err", err)
		}
	}
	select {
	case slot := <-pl.s.slots:
		return slot, nil, nil
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("waiting for a free slot: %w", ctx.Err())
	}
}

// leastWantedLocked removes and returns the oldest idle sandbox of the
// template used least lately, or nil.
func (pl *pool) leastWantedLocked() *prepared {
	var key template
	var found bool
	var last time.Time
	for k, ps := range pl.idle {
		if len(ps) == 0 {
			continue
		}
		d := pl.demand[k]
		if !found || d == nil || d.last.Before(last) {
			key, found = k, true
			if d != nil {
				last = d.last
			}
		}
	}
	if !found {
		return nil
	}
	p := pl.idle[key][0]
	pl.idle[key] = pl.idle[key][1:]
	pl.unmark(p)
	return p
}

// refill prepares sandboxes while any is wanted, and shrinks the pool once
// a second: beyond each template's want, and those no run asked for in
// forgetAfter.
func (pl *pool) refill() {
	defer close(pl.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-pl.stop:
			return
		case <-tick.C:
			pl.shrink(time.Now())
		case <-pl.wake:
		}
		for pl.prepareOne(time.Now()) {
			select {
			case <-pl.stop:
				return
			default:
			}
		}
	}
}

// prepareOne prepares a sandbox of the template that wants one most, if a
// slot is free and no run waits for one; it reports whether it did
// anything.
func (pl *pool) prepareOne(now time.Time) bool {
	pl.mu.Lock()
	key, ok := pl.neediestLocked(now)
	pl.mu.Unlock()
	if !ok {
		return false
	}
	// One slot stays free where there are two or more, so that a run of
	// an image with none prepared starts at once instead of waiting for
	// another image's sandbox to be discarded.
	if cap(pl.s.slots) > 1 && len(pl.s.slots) < 2 {
		return false
	}
	var slot int
	select {
	case slot = <-pl.s.slots:
	default:
		return false
	}
	release, err := pl.holdTree(key)
	if err != nil {
		pl.s.slots <- slot
		pl.mu.Lock()
		pl.forgetLocked(key)
		pl.mu.Unlock()
		pl.s.log.Debug("not preparing for an image no longer there", "image", key.image, "rootfs", key.rootfs, "err", err)
		return true
	}
	f := &preparation{key: key, done: make(chan struct{})}
	pl.mu.Lock()
	pl.preparing = f
	pl.mu.Unlock()
	begun := time.Now()
	p, err := pl.s.prepare(key, slot, release)
	pl.s.log.Debug("prepared a sandbox ahead", "image", key.image, "took", time.Since(begun), "err", err)
	pl.mu.Lock()
	defer func() { // after p joined the idle ones, if it does
		pl.preparing = nil
		close(f.done)
		pl.mu.Unlock()
	}()
	d := pl.demand[key]
	if err != nil {
		pl.s.log.Error("refilling the pool", "image", key.image, "err", err)
		if d != nil {
			d.failed(now)
		}
		return true
	}
	if d != nil {
		d.failures = 0
	}
	if d == nil || (pl.waiting > 0 && !f.claimed) {
		// Forgotten meanwhile (its image changed), or a run needs the slot
		// (unless a run of its own waits for it).
		go pl.discardLogged(p)
		return true
	}
	pl.idle[key] = append(pl.idle[key], p)
	pl.mark(p)
	return true
}

var errImageChanged = errors.New("the image was replaced")

// neediestLocked picks the template whose idle sandboxes fall furthest
// short of its want, the one used last among equals; none when a run waits
// for a slot or the pool is full.
func (pl *pool) neediestLocked(now time.Time) (template, bool) {
	if pl.waiting > 0 || pl.countLocked() >= pl.max {
		return template{}, false
	}
	var best template
	var bestShort int
	var bestLast time.Time
	for k, d := range pl.demand {
		if now.Before(d.retryAfter) {
			continue
		}
		short := d.want(now) - len(pl.idle[k])
		if short <= 0 {
			continue
		}
		if short > bestShort || (short == bestShort && d.last.After(bestLast)) {
			best, bestShort, bestLast = k, short, d.last
		}
	}
	return best, bestShort > 0
}

func (pl *pool) countLocked() int {
	n := 0
	for _, ps := range pl.idle {
		n += len(ps)
	}
	return n
}

// shrink discards idle sandboxes beyond their template's want, every one of
// an image that was replaced or removed, and dead ones (the refiller
// replaces them: found only when a run took them, they would keep their
// slots and their template's count, and runs would take the cold path).
func (pl *pool) shrink(now time.Time) {
	pl.mu.Lock()
	keys := make([]template, 0, len(pl.idle))
	for k, ps := range pl.idle {
		if len(ps) > 0 {
			keys = append(keys, k)
		}
	}
	pl.mu.Unlock()
	for _, k := range keys {
		release, err := pl.holdTree(k)
		if err == nil {
			release()
		} else {
			pl.mu.Lock()
			pl.forgetLocked(k)
			pl.mu.Unlock()
		}
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for k, d := range pl.demand {
		if d.inFlight == 0 && now.Sub(d.last) > forgetAfter {
			pl.forgetLocked(k)
		}
	}
	for k, ps := range pl.idle {
		d := pl.demand[k]
		live := ps[:0]
		for _, p := range ps {
			if why := p.dead(); why != "" {
				pl.s.log.Warn(why, "id", p.id)
				pl.unmark(p)
				go pl.discardLogged(p)
				// As a failed preparation: under memory pressure
				// the OOM killer's pick, replaced at once, would
				// be picked again.
				if d != nil {
					d.failed(now)
				}
				continue
			}
			live = append(live, p)
		}
		pl.idle[k] = live
		if d == nil {
			continue
		}
		for excess := len(live) - d.want(now); excess > 0; excess-- {
			p := pl.idle[k][0]
			pl.idle[k] = pl.idle[k][1:]
			pl.unmark(p)
			go pl.discardLogged(p)
		}
	}
}

// forgetLocked drops a template: its demand and its idle sandboxes.
func (pl *pool) forgetLocked(k template) {
	for _, p := range pl.idle[k] {
		pl.unmark(p)
		go pl.discardLogged(p)
	}
	delete(pl.idle, k)
	delete(pl.demand, k)
}

func (pl *pool) discardLogged(p *prepared) {
	pl.s.log.Debug("discarding a prepared sandbox", "id", p.id, "image", p.key.image)
	if err := p.teardown(); err != nil {
		pl.s.log.Error("discarding a prepared sandbox", "id", p.id, "err", err)
	}
}

// mark and unmark keep poolDir's file of an idle sandbox.
func (pl *pool) mark(p *prepared) {
	if err := os.WriteFile(filepath.Join(pl.dir, p.id), nil, 0o644); err != nil {
		pl.s.log.Warn("marking a prepared sandbox", "id", p.id, "err", err)
	}
}

func (pl *pool) unmark(p *prepared) {
	if err := os.Remove(filepath.Join(pl.dir, p.id)); err != nil {
		pl.s.log.Warn("unmarking a prepared sandbox", "id", p.id, "err", err)
	}
}

// close stops the refiller and discards every idle sandbox.
func (pl *pool) close() error {
	select {
	case <-pl.stop:
	default:
		close(pl.stop)
	}
	<-pl.done
	pl.mu.Lock()
	var all []*prepared
	for k, ps := range pl.idle {
		for _, p := range ps {
			pl.unmark(p)
		}
		all = append(all, ps...)
		delete(pl.idle, k)
	}
	pl.mu.Unlock()
	var errs []error
	for _, p := range all {
		errs = append(errs, p.teardown())
	}
	return errors.Join(errs...)
}
