package sandbox

import (
	"testing"
	"time"
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
