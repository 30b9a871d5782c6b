package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/atod-project/atod/internal/listen"
	"github.com/atod-project/atod/server"
	"github.com/atod-project/atod/server/metrics"
)

// serve is `atod serve`. It ends on its own signals (term below), not on
// main's context, which the same signals end.
func serve(_ context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod serve", flag.ContinueOnError)
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args, storeFlags|sandboxFlags|serverFlags)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	level := cfg.levelVar()
	log := cfg.loggerAt(os.Stderr, level)
	// SIGTERM and SIGINT, the first of which starts the drain and the
	// second ends it: one channel from the start, so that no second
	// signal falls between the two.
	term := make(chan os.Signal, 2)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(term)

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

	// Connections get a context that ends when serve returns: nothing
	// served outlives the daemon. (A drain kills runs with the server's
	// KillRuns, leaving their connections to carry the results.)
	connCtx, endConns := context.WithCancel(context.Background())
	defer endConns()
	m := metrics.New(storeBytes(images))
	srv, err := cfg.server(log, cat, images, sb, m)
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
		// A keep-alive connection with no request goes after a while;
		// websockets, taken over from the server, have timeouts of
		// their own.
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return connCtx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TokenFile != "" && cfg.MetricsListen == "" {
		log.Warn("GET /metrics on the API's address needs no token (nor do /healthz and /readyz): set metrics_listen to serve it apart")
	}
	if w := cfg.tokenFileWarning(); w != "" {
		log.Warn(w)
	}
	log.Info("listening", "addr", ln.Addr().String(), "languages", runnable, "concurrency", sb.Slots(), "bash", cfg.bashPath())

	served := make(chan error, 1)
	go func() { served <- hs.Serve(listen.KeepAccepting(ln, log)) }()
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listening on %s for metrics: %w", cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: hs.ErrorLog}
		defer ms.Close()
		go func() { _ = ms.Serve(mln) }()
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
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
	// SIGHUP reloads the configuration's reloadable settings (reload):
	// last is the configuration applied, drainSeconds the drain's time.
	last := cfg
	var drainSeconds atomic.Int64
	drainSeconds.Store(int64(cfg.DrainSeconds))
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
				if next, ok := reload(log, args, cfg, last, srv, level); ok {
					last = next
					drainSeconds.Store(int64(next.DrainSeconds))
				}
				n := checkLanguages(log, cat, images)
				log.Info("rechecked images", "languages", n)
				select {
				case recheck <- struct{}{}:
				default: // a collection is due already
				}
			}
		}
	}()
	// systemd (Type=notify): serving, and alive while the watchdog asks.
	notify(log, daemon.SdNotifyReady)
	go keepWatchdog(collectorCtx, log)
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-term: // main's context ends with it too: the signal is the one to wait for
	}
	return drain(log, hs, srv, served, term, time.Duration(drainSeconds.Load())*time.Second)
}

// reload reads the configuration anew (the file and the command line's
// flags, args), and applies what a running daemon can take (reloadable):
// the runs' limits, the log level, the bound on waiting requests, the
// drain's time, the allowed origins, the client limits and the tokens
// (whose file it reads again). It logs what changed since the
// last reload, and what differs from the configuration the daemon started
// with (start) but needs a restart. A configuration that does not load,
// or a token file that does not, changes nothing.
func reload(log *slog.Logger, args []string, start, last config, srv *server.Server, level *slog.LevelVar) (config, bool) {
	next := defaultConfig()
	fs := flag.NewFlagSet("atod serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := next.parseFlags(fs, args, storeFlags|sandboxFlags|serverFlags); err != nil {
		log.Error("configuration not reloaded: nothing changed", "err", err)
		return last, false
	}
	st, err := next.settings()
	if err != nil {
		log.Error("configuration not reloaded: nothing changed", "err", err)
		return last, false
	}
	if err := srv.SetSettings(st); err != nil {
		log.Error("configuration not reloaded: nothing changed", "err", err)
		return last, false
	}
	l, _ := parseLevel(next.LogLevel)
	level.Set(l)
	var changed, restart []string
	for _, k := range changedKeys(last, next) {
		if reloadable[k] {
			changed = append(changed, k)
		}
	}
	for _, k := range changedKeys(start, next) {
		if !reloadable[k] {
			restart = append(restart, k)
		}
	}
	log.Info("configuration reloaded", "changed", changed, "token_file_reread", next.TokenFile != "")
	if w := next.tokenFileWarning(); w != "" {
		log.Warn(w)
	}
	if len(restart) > 0 {
		log.Warn("configuration: these take effect at the next start only", "keys", restart)
	}
	// The next reload compares with what applies: the restart-only keys
	// stay as the daemon started.
	applied := last
	for _, k := range changed {
		setKey(&applied, &next, k)
	}
	return applied, true
}

// resultWait bounds how long the clients of runs killed at the end of a
// drain have to take their results (the server's own write timeout).
const resultWait = 30 * time.Second

// drain shuts the daemon down without losing a run: the listener closes,
// readiness turns false, new requests are refused, and the runs in flight
// (and the requests already waiting for a slot) get up to timeout to finish
// and answer their clients. When it is up, or on a second SIGTERM or
// interrupt, the runs left are killed, and their clients get their results
// (killed) as usual.
func drain(log *slog.Logger, hs *http.Server, srv *server.Server, served <-chan error, again <-chan os.Signal, timeout time.Duration) error {
	log.Info("draining: new requests are refused, runs in flight may finish", "timeout", timeout)
	notify(log, daemon.SdNotifyStopping+"\nSTATUS=draining")
	srv.Drain()
	// Shutdown closes the listener and waits for plain HTTP requests;
	// websockets, which it does not track, are waited for by Drained.
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout+resultWait)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- hs.Shutdown(shutCtx) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-srv.Drained():
		log.Info("drained: every run finished")
	case <-timer.C:
		log.Warn("drain time is up: killing the runs left")
	case <-again:
		log.Warn("second signal: killing the runs left")
	}
	srv.KillRuns()
	select {
	case <-srv.Drained():
	case <-time.After(resultWait):
		log.Warn("clients of killed runs did not take their results")
	}
	if err := <-shut; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped")
	return nil
}

// notify tells systemd (Type=notify) of the daemon's state; outside a
// notify unit it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("notifying systemd", "state", state, "err", err)
	}
}

// keepWatchdog pings systemd's watchdog (WatchdogSec=) at half its
// interval until ctx ends; outside such a unit it returns at once.
func keepWatchdog(ctx context.Context, log *slog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("reading systemd's watchdog setting", "err", err)
	}
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			notify(log, daemon.SdNotifyWatchdog)
		}
	}
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
