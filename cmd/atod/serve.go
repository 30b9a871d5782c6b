package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/atod-project/atod/internal/listen"
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
	collected := images.Collect(log)
	if err := images.CheckReachable(); err != nil {
		log.Warn("runs will fail", "err", err)
	}
	runnable := checkLanguages(log, cat, images)
	if runnable == 0 {
		return fmt.Errorf("no language can run: no image in %s is installed; install the default one with `atod rootfs build debian-12` (or `make setup`)", cfg.Images)
	}
	sb, err := cfg.sandbox(log, cgroupView, images)
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
	go func() { served <- hs.Serve(listen.KeepAccepting(ln, log)) }()
	// The image trees no name points at go once no run uses them (the
	// store's collector); SIGHUP logs which languages can run, and
	// collects too.
	collectorDone := make(chan struct{})
	collectorCtx, stopCollector := context.WithCancel(context.Background())
	defer func() { stopCollector(); <-collectorDone }()
	recheck := make(chan struct{}, 1)
	go func() {
		defer close(collectorDone)
		images.KeepCollected(collectorCtx, log, recheck, !collected)
	}()
	signalsDone := make(chan struct{})
	defer func() { stopCollector(); <-signalsDone }()
	go func() {
		defer close(signalsDone)
		for {
			select {
			case <-collectorCtx.Done():
				return
			case <-usr1:
				logStats(log)
			case <-hup:
				n := checkLanguages(log, cat, images)
				log.Info("rechecked images", "languages", n)
				select {
				case recheck <- struct{}{}:
				default: // a collection is due already
				}
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
