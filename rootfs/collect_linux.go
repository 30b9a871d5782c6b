package rootfs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// How often a daemon collects (see KeepCollected): every CollectInterval
// besides when a run releases a tree no name points at, and
// CollectRetryInterval after another atod had the store.
const (
	CollectInterval      = time.Hour
	CollectRetryInterval = 10 * time.Second
)

// Collect removes what interrupted writers left in the store and the trees
// nothing uses, logging what it did, unless another atod is changing the
// store (then it returns false: try again later) or this one may not (a
// rootless daemon reading root's store).
func (d *Dir) Collect(log *slog.Logger) bool {
	info, err := os.Stat(d.root)
	if err != nil {
		return true // nothing to collect, and serving creates no store
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		// Root's store, read by a rootless daemon (whose images in it
		// may be its own: Owner): root's atod rootfs collects.
		log.Debug("not collecting images: the store is not this user's", "owner", st.Uid)
		return true
	}
	w, err := d.TryLock()
	switch {
	case errors.Is(err, ErrBusy):
		return false
	case errors.Is(err, fs.ErrPermission):
		log.Debug("not collecting images: the store is not this user's", "err", err)
		return true
	case err != nil:
		log.Warn("cannot collect images", "err", err)
		return true
	}
	defer w.Unlock()
	c, err := w.GC()
	if err != nil {
		log.Warn("collecting image trees", "err", err)
	}
	if len(c.Removed) > 0 {
		log.Info("collected image trees", "trees", len(c.Removed), "freed_bytes", c.Freed)
	}
	return true
}

// KeepCollected collects (Collect) until ctx ends: whenever a run releases
// a tree no name points at (Orphaned), every CollectInterval, whenever
// wake delivers, and CollectRetryInterval after a collection that found
// the store busy; retrySoon says the caller's own first Collect did.
func (d *Dir) KeepCollected(ctx context.Context, log *slog.Logger, wake <-chan struct{}, retrySoon bool) {
	tick := time.NewTicker(CollectInterval)
	defer tick.Stop()
	var retry <-chan time.Time
	if retrySoon {
		retry = time.After(CollectRetryInterval)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.Orphaned():
		case <-tick.C:
		case <-retry:
		case <-wake:
		}
		retry = nil
		if !d.Collect(log) {
			retry = time.After(CollectRetryInterval)
		}
	}
}
