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
	"time"

	"github.com/atod-project/atod/sandbox"
)

// shutdownGrace is how long plain HTTP requests get to finish on SIGTERM
// before every remaining run is killed.
const shutdownGrace = 5 * time.Second

func serve(ctx context.Context, args []string, cgroupView string) error {
	if err := sandbox.SealExecutable(); err != nil {
		return err
	}
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
	runnable := checkLanguages(log, cat, images)
	if runnable == 0 {
		return fmt.Errorf("no language can run: no image in %s is installed; build the default one with `scripts/build-rootfs debian-12` (or `make setup`)", cfg.Images)
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
