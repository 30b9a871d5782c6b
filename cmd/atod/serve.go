package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/runners"
)

// shutdownGrace is how long plain HTTP requests get to finish on SIGTERM
// before every remaining run is killed.
const shutdownGrace = 5 * time.Second

func serve(ctx context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod serve", flag.ContinueOnError)
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	log := cfg.logger(os.Stderr)

	cat, images, err := cfg.stores()
	if err != nil {
		return err
	}
	// SIGHUP rechecks the images; it must not end the daemon, however
	// early it comes.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// SIGUSR1 logs the daemon's own counts (logStats); registered this
	// early so that it never ends the daemon, SIGUSR1's default.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	// What an interrupted pull or build left behind goes now (or as soon
	// as another atod changing the store is done).
	collected := collectImages(log, images)
	if err := images.CheckReachable(); err != nil {
		log.Warn("runs will fail", "err", err)
	}
	runnable := checkLanguages(log, cat, images)
	if runnable == 0 {
		return fmt.Errorf("no language can run: no image in %s is installed; install the default one with `atod rootfs build debian-12` (or `make setup`)", cfg.Images)
	}
	sb, err := cfg.sandbox(log, cgroupView)
	if err != nil {
		return err
	}
	defer sb.Close()

	// Runs get their own context: on shutdown, plain HTTP requests get
	// shutdownGrace to finish; then every run still going is killed, also
	// those of websocket connections, which Shutdown does not wait for.
	runCtx, killRuns := context.WithCancel(context.Background())
	defer killRuns()
	srv, err := cfg.server(log, cat, images, sb)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "languages", runnable, "concurrency", sb.Slots())

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	collectorDone := make(chan struct{})
	collectorCtx, stopCollector := context.WithCancel(context.Background())
	defer func() { stopCollector(); <-collectorDone }()
	go func() {
		defer close(collectorDone)
		watchImages(collectorCtx, log, cat, images, hup, !collected)
	}()
	statsDone := make(chan struct{})
	defer func() { stopCollector(); <-statsDone }()
	go func() {
		defer close(statsDone)
		for {
			select {
			case <-collectorCtx.Done():
				return
			case <-usr1:
				logStats(log)
			}
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = hs.Shutdown(shutCtx)
	killRuns()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// imageGCInterval is how often the daemon looks for image trees to collect
// besides when a run releases one nothing names any more;
// imageGCRetryInterval how soon it tries again when another atod had the
// store.
const (
	imageGCInterval      = time.Hour
	imageGCRetryInterval = 10 * time.Second
)

// watchImages collects image trees no name points at once no run uses them,
// and on SIGHUP logs which languages can run (retrySoon: the first
// collection found the store busy). Images installed or removed need no
// signal: every request looks its image up afresh.
func watchImages(ctx context.Context, log *slog.Logger, cat *runners.Catalogue, images *rootfs.Dir, hup <-chan os.Signal, retrySoon bool) {
	tick := time.NewTicker(imageGCInterval)
	defer tick.Stop()
	var retry <-chan time.Time
	if retrySoon {
		retry = time.After(imageGCRetryInterval)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-images.Orphaned():
		case <-tick.C:
		case <-retry:
		case <-hup:
			n := checkLanguages(log, cat, images)
			log.Info("rechecked images", "languages", n)
		}
		retry = nil
		if !collectImages(log, images) {
			retry = time.After(imageGCRetryInterval)
		}
	}
}

// collectImages removes what interrupted writers left in the store and the
// trees nothing uses, unless another atod is changing the store (then it
// returns false: try again later) or this one may not (a rootless daemon
// reading root's store).
func collectImages(log *slog.Logger, images *rootfs.Dir) bool {
	if _, err := os.Stat(images.Root()); err != nil {
		return true // nothing to collect, and serving creates no store
	}
	w, err := images.TryLock()
	switch {
	case errors.Is(err, rootfs.ErrBusy):
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

// logStats logs what a leak would make grow and /proc does not show: the
// daemon's goroutines, and its heap right after a collection (live objects
// only). Operators and the soak test (e2e/soak_test.go) read it on SIGUSR1;
// it needs no endpoint, which anyone reaching the API could call.
func logStats(log *slog.Logger) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	log.Info("stats", "goroutines", runtime.NumGoroutine(), "heap_live_bytes", m.HeapAlloc)
}
