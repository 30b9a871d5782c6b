package rootfs

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
)

// logLines is a logger whose lines arrive on a channel, for tests to wait
// for what a collector logs.
func logLines() (*slog.Logger, <-chan string) {
	lines := make(chan string, 64)
	return slog.New(slog.NewTextHandler(lineWriter(lines), &slog.HandlerOptions{Level: slog.LevelDebug})), lines
}

type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	select {
	case w <- string(p):
	default: // a test that reads no more lines does not block the collector
	}
	return len(p), nil
}

// waitForLine waits for a logged line holding want.
func waitForLine(tb testing.TB, lines <-chan string, want string) {
	tb.Helper()
	deadline := time.After(timescale.D(10 * time.Second))
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			tb.Fatalf("no log line saying %q", want)
		}
	}
}

// replaced installs a new tree under an image's name and returns the id of
// the tree it pointed at before, which no name points at any more.
func replaced(tb testing.TB, d *Dir, name string) string {
	tb.Helper()
	w := lock(tb, d)
	defer w.Unlock()
	old, err := w.Install(newWork(tb, w, "new"), name, randomID(), Meta{})
	if err != nil {
		tb.Fatal(err)
	}
	return old
}

func treeExists(d *Dir, id string) bool {
	_, err := os.Stat(d.treePath(id))
	return err == nil
}

// TestCollect: Collect removes unnamed trees and what interrupted writers
// left, says to retry while another writer holds the store, and has nothing
// to do for a store not created yet.
func TestCollect(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "img", `{"size_bytes": 4096}`)
	d := openDir(t, root)
	old := replaced(t, d, "img")
	atodtest.MkdirAll(t, filepath.Join(root, workDir, "install-1", TreeDir))
	log, lines := logLines()

	w := lock(t, d)
	if d.Collect(log) {
		t.Error("Collect with another writer holding the store returned true, want false (retry)")
	}
	w.Unlock()
	if !treeExists(d, old) {
		t.Fatal("the unnamed tree went while another writer held the store")
	}
	if !d.Collect(log) {
		t.Fatal("Collect of a free store returned false")
	}
	waitForLine(t, lines, `msg="collected image trees" trees=1 freed_bytes=4096`)
	if treeExists(d, old) {
		t.Error("the unnamed tree survived Collect")
	}
	assertEmptyWork(t, root)
	if _, err := d.Lookup("img"); err != nil {
		t.Errorf("the named image went too: %v", err)
	}

	missing := openDir(t, filepath.Join(t.TempDir(), "not-yet"))
	if !missing.Collect(log) {
		t.Error("Collect of a store not created yet returned false")
	}
	if _, err := os.Stat(missing.Root()); err == nil {
		t.Error("Collect created the store")
	}

	// A store of another user's (root's, read by a rootless daemon): not
	// this one's to collect, nor a warning's worth.
	old = replaced(t, d, "img")
	if err := os.Chown(root, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if !d.Collect(log) {
		t.Error("Collect of another user's store returned false")
	}
	waitForLine(t, lines, `msg="not collecting images: the store is not this user's" owner=4242`)
	if !treeExists(d, old) {
		t.Error("Collect removed a tree of another user's store")
	}
}

// TestKeepCollected: the collector removes a tree replaced while a run held
// it as soon as the run releases it, and collects when woken.
func TestKeepCollected(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "img", `{}`)
	addImage(t, root, "other", `{}`)
	d := openDir(t, root)
	lease, err := d.Acquire("img")
	if err != nil {
		t.Fatal(err)
	}
	held := replaced(t, d, "img")

	log, lines := logLines()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	wake := make(chan struct{}, 1)
	go func() {
		defer close(done)
		d.KeepCollected(ctx, log, wake, false)
	}()
	defer func() { cancel(); <-done }()

	lease.Release()
	waitForLine(t, lines, `msg="collected image trees" trees=1`)
	if treeExists(d, held) {
		t.Error("the released tree survived the collector")
	}

	// Nothing signals Orphaned for a tree whose name is removed by
	// another writer while no run holds it: a wake (SIGHUP) collects it.
	// (The collector logs before it lets go of the store: wait for it.)
	w, err := d.Lock(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.Remove("other")
	w.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	waitForLine(t, lines, `msg="collected image trees" trees=1`)
	if treeExists(d, other) {
		t.Error("the removed image's tree survived a wake")
	}
}
