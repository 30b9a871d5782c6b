// Package server is atod's HTTP and websocket front end. It serves
//
//	GET  /api/v0/ws/execute   a websocket: one request in, one result out
//	GET  /api/v0/metadata     the runnable languages, as msgpack
//	GET  /api/v1/ws/execute   a websocket: streamed output, Done, Kill, reuse
//	GET  /api/v1/metadata     the runnable languages, as msgpack or JSON
//	POST /api/v1/execute      ours: one request, one result, over plain HTTP
//	GET  /healthz             ours: alive, and the build
//	GET  /readyz              ours: taking runs (not draining, a language runnable)
//	GET  /metrics             ours: Prometheus metrics (Options.MetricsHandler)
//
// as the wire contract (docs/api.md) specifies, to the byte. It decodes requests
// with package protocol, finds the language's runner script and image through
// the Catalogue and Images it is given, and hands a self-contained
// job.Spec to a Runner. It knows nothing of how a run is contained.
//
// The server leaves to its caller the listener, TLS, the http.Server and its
// timeouts, and any limit on concurrent runs (a Runner may queue or refuse).
// Runs in flight end when their client goes away or the request's context
// (the http.Server's BaseContext) is cancelled.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/sandbox/job"
)

// Runner runs one program in a sandbox. Run returns when the run is over and
// its output has been written to spec.Stdout and spec.Stderr. When ctx is
// cancelled the run is killed. An error means the run could not be carried
// out at all; a program that fails is a Result, not an error.
type Runner interface {
	Run(ctx context.Context, spec job.Spec) (job.Result, error)
}

// Catalogue is the language catalogue (a *runners.Catalogue).
type Catalogue interface {
	Lookup(id string) (runners.Language, bool)
	Script(id string) ([]byte, bool)
	All() []runners.Language
}

// Images finds root filesystems by name (a *rootfs.Dir). Lookup and Acquire
// return an error wrapping image.ErrNotFound for an image that is not
// installed. Lookup answers whether a language can run; Acquire holds the
// image's tree for the length of a run, so that an image replaced or
// removed meanwhile is collected only after the run.
type Images interface {
	Lookup(name string) (image.Image, error)
	Acquire(name string) (*image.Lease, error)
}

// DefaultRequestReadTimeout is how long a client has, once connected, to send
// its request, unless Options says otherwise.
const DefaultRequestReadTimeout = 10 * time.Second

// Options configure a Server. Catalogue, Images and Runner are required.
type Options struct {
	Catalogue Catalogue
	Images    Images
	Runner    Runner

	// Logger receives the server's logs, including the errors that clients
	// only see as "internal server error". Nil discards them.
	Logger *slog.Logger

	// Settings are the options a running server may take anew
	// (SetSettings): limits, the bound on waiting, tokens, origins, the
	// client limits.
	Settings

	// RequestReadTimeout bounds reading a request message, from the
	// connection's upgrade to its last byte; DefaultRequestReadTimeout when
	// zero. A client that overruns it is disconnected without a close
	// frame.
	RequestReadTimeout time.Duration

	// Slots bounds the runs in flight (normally the sandbox's slots):
	// websocket requests beyond it wait, HTTP requests are refused with
	// 503. Zero means no bound here.
	Slots int

	// IdleTimeout is how long a v1 connection may wait for its next
	// request before it is closed (1001); DefaultIdleTimeout when zero.
	IdleTimeout time.Duration

	// Version is the build /healthz reports.
	Version version.Info

	// Recorder, if not nil, is told of runs, waits, refusals and output
	// (package server/metrics counts them for Prometheus).
	Recorder Recorder
	// MetricsHandler, if not nil, serves GET /metrics.
	MetricsHandler http.Handler

	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// in the request log, and whose X-Request-Id is taken as the request's
	// id (ParseTrustedProxies).
	TrustedProxies []netip.Prefix
}

// Settings are the options a running server takes anew (SetSettings): the
// daemon's SIGHUP reload.
type Settings struct {
	// Limits overrides the sandbox's default limits for every run, where
	// non-zero. The output caps are always those of the API version.
	Limits job.Limits
	// MaxWaiting bounds the websocket requests that wait for a run slot
	// (with Slots): one more is refused at once, with close code 1013.
	// Zero means no bound.
	MaxWaiting int
	// Tokens, if not nil, are the bearer tokens the API (/api/...) needs;
	// a request without one of them is answered 401.
	Tokens *Tokens
	// ClientRuns bounds the runs one client has at once, running or
	// waiting for a slot, and ClientRequestsPerMinute its requests a
	// minute; past either its requests are refused (close 1013, HTTP
	// 429). A client is its bearer token when the API needs one, else its
	// address. Zero: no bound.
	ClientRuns, ClientRequestsPerMinute int
	// AllowedOrigins, if any, are the only origins (host patterns, as
	// path.Match: "*.example.com") whose browser pages may use the API;
	// requests without an Origin header (programs) are not affected.
	AllowedOrigins []string
}

// Server is an http.Handler serving atod's API. It is safe for concurrent
// use and holds no per-request state between requests.
type Server struct {
	catalogue      Catalogue
	images         Images
	runner         Runner
	log            *slog.Logger
	limits         atomic.Pointer[job.Limits]
	stdinPending   atomic.Int64 // interactive runs' stdin not read yet (stdinBuffer)
	readTimeout    time.Duration
	idleTimeout    time.Duration
	slots          chan struct{} // run slots in use; nil: unbounded
	maxWaiting     atomic.Int64
	tokens         atomic.Pointer[Tokens]
	origins        atomic.Pointer[[]string]
	clients        clientLimits
	trustedProxies []netip.Prefix
	version        version.Info
	record         Recorder
	waiting        atomic.Int64 // requests waiting for a run slot
	mux            *http.ServeMux

	// KillRuns cancels runsCtx, which every run's context follows.
	runsCtx  context.Context
	killRuns context.CancelFunc

	// Draining (Drain): requests served now, and whether the server has
	// drained (none left).
	drainMu   sync.Mutex
	active    int
	drain     chan struct{} // closed by Drain
	drained   chan struct{} // closed once draining with no request left
	isDrained bool
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Catalogue == nil:
		return nil, errors.New("creating server: no Catalogue given")
	case opts.Images == nil:
		return nil, errors.New("creating server: no Images given")
	case opts.Runner == nil:
		return nil, errors.New("creating server: no Runner given")
	case opts.RequestReadTimeout < 0:
		return nil, fmt.Errorf("creating server: negative RequestReadTimeout %v", opts.RequestReadTimeout)
	}
	s := &Server{
		catalogue:      opts.Catalogue,
		images:         opts.Images,
		runner:         opts.Runner,
		log:            opts.Logger,
		readTimeout:    opts.RequestReadTimeout,
		idleTimeout:    opts.IdleTimeout,
		version:        opts.Version,
		record:         opts.Recorder,
		trustedProxies: opts.TrustedProxies,
		mux:            http.NewServeMux(),
		drain:          make(chan struct{}),
		drained:        make(chan struct{}),
	}
	s.runsCtx, s.killRuns = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.readTimeout == 0 {
		s.readTimeout = DefaultRequestReadTimeout
	}
	if opts.Slots < 0 {
		return nil, fmt.Errorf("creating server: negative Slots %d", opts.Slots)
	}
	if err := s.SetSettings(opts.Settings); err != nil {
		return nil, fmt.Errorf("creating server: %w", err)
	}
	if opts.Slots > 0 {
		s.slots = make(chan struct{}, opts.Slots)
	}
	if s.idleTimeout == 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	s.mux.HandleFunc("GET /api/v0/ws/execute", s.served(s.executeV0))
	s.mux.HandleFunc("GET /api/v0/metadata", s.metadata)
	s.mux.HandleFunc("GET /api/v1/ws/execute", s.served(s.executeV1))
	s.mux.HandleFunc("POST /api/v1/execute", s.served(s.executeHTTP))
	s.mux.HandleFunc("GET /api/v1/metadata", s.metadataV1)
	s.mux.HandleFunc("GET /api/v1/limits", s.limitsV1)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.record == nil {
		s.record = noRecorder{}
	}
	if opts.MetricsHandler != nil {
		s.mux.Handle("GET /metrics", opts.MetricsHandler)
	}
	return s, nil
}

// SetSettings changes the settings of a running server; requests read from
// now on follow them.
func (s *Server) SetSettings(st Settings) error {
	// All checked before anything changes: a bad setting changes nothing.
	if st.MaxWaiting < 0 {
		return fmt.Errorf("negative MaxWaiting %d", st.MaxWaiting)
	}
	if st.ClientRuns < 0 || st.ClientRequestsPerMinute < 0 {
		return fmt.Errorf("negative client limits %d, %d", st.ClientRuns, st.ClientRequestsPerMinute)
	}
	if err := CheckOrigins(st.AllowedOrigins); err != nil {
		return err
	}
	l := st.Limits
	s.limits.Store(&l)
	s.maxWaiting.Store(int64(st.MaxWaiting))
	s.tokens.Store(st.Tokens)
	origins := slices.Clone(st.AllowedOrigins)
	s.origins.Store(&origins)
	s.clients.set(st.ClientRuns, st.ClientRequestsPerMinute)
	return nil
}

// CheckOrigins checks allowed origins' patterns (Settings.AllowedOrigins).
func CheckOrigins(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("allowed origin %q: %w", p, err)
		}
	}
	return nil
}

// ServeHTTP serves one HTTP request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.allowedOrigin(w, r) || !s.authorized(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Drain makes the server take no new request, for a shutdown that loses no
// run: a request read from now on is refused (websocket close 1001 "server
// shutting down", HTTP 503 with Retry-After), a v1 connection is closed so
// once its run is done (at once when it has none), and the runs in flight,
// and the requests already waiting for a slot, go on. Drained tells when
// they are all over. Drain may be called more than once.
func (s *Server) Drain() {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	select {
	case <-s.drain:
	default:
		close(s.drain)
	}
	s.checkDrained()
}

// Recorder is told what the server does, for metrics. Its methods must be
// safe for concurrent use, and quick.
type Recorder interface {
	// Ran: a run of language ended with res, or the server failed to
	// carry it out (err).
	Ran(language string, res job.Result, err error)
	// Waited: a request waited d for a run slot (0: it had one at once).
	Waited(d time.Duration)
	// Refused: a request of api (v0, v1, http) was refused with reason, a
	// websocket close code or an HTTP status.
	Refused(api string, reason int)
	// Output: n bytes of a run's stream (stdout, stderr) were kept for
	// its client.
	Output(stream string, n int)
}

type noRecorder struct{}

func (noRecorder) Ran(string, job.Result, error) {}
func (noRecorder) Waited(time.Duration)          {}
func (noRecorder) Refused(string, int)           {}
func (noRecorder) Output(string, int)            {}

// Waiting is how many requests wait for a run slot now.
func (s *Server) Waiting() int64 { return s.waiting.Load() }

// BusySlots is how many run slots are taken now.
func (s *Server) BusySlots() int { return len(s.slots) }

// countedWriter tells the Recorder what a stream's writer takes.
type countedWriter struct {
	w      io.Writer
	stream string
	record Recorder
}

func (c countedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.record.Output(c.stream, n)
	return n, err
}

// KillRuns kills every run in flight, and every request waiting for a run
// slot, now and from now on: the end of a drain. Their clients get their
// results (killed) as usual; connections stay open for them.
func (s *Server) KillRuns() { s.killRuns() }

// runContext is ctx, cancelled by KillRuns too.
func (s *Server) runContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.runsCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Drained is closed once the server drains (Drain) and serves no request.
func (s *Server) Drained() <-chan struct{} { return s.drained }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool {
	select {
	case <-s.drain:
		return true
	default:
		return false
	}
}

// served counts the requests h serves, for Drained.
func (s *Server) served(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.drainMu.Lock()
		s.active++
		s.drainMu.Unlock()
		defer func() {
			s.drainMu.Lock()
			s.active--
			s.checkDrained()
			s.drainMu.Unlock()
		}()
		h(w, r)
	}
}

// checkDrained closes drained once draining with nothing served; drainMu
// held.
func (s *Server) checkDrained() {
	if s.active == 0 && s.Draining() && !s.isDrained {
		s.isDrained = true
		close(s.drained)
	}
}

// errNotRunnable says a language id has no runner script or no image.
var errNotRunnable = errors.New("language not runnable")

// target is everything a run of one language needs from the catalogue and
// the image store.
type target struct {
	lang   runners.Language
	script []byte
	image  image.Image
	lease  *image.Lease // when the target is for a run; Release it after
}

// resolve finds the target of language id. A language is runnable when the
// catalogue has it with a runner script and its image is installed;
// otherwise the error wraps errNotRunnable, or is the image store's failure.
// A target for a run (forRun) holds its image until t.lease is released.
func (s *Server) resolve(id string, forRun bool) (target, error) {
	lang, ok := s.catalogue.Lookup(id)
	if !ok {
		return target{}, fmt.Errorf("looking up language %q: %w", id, errNotRunnable)
	}
	script, ok := s.catalogue.Script(id)
	if !ok {
		return target{}, fmt.Errorf("looking up runner script of %q: %w", id, errNotRunnable)
	}
	var img image.Image
	var lease *image.Lease
	var err error
	if forRun {
		if lease, err = s.images.Acquire(lang.Image); err == nil {
			img = lease.Image
		}
	} else {
		img, err = s.images.Lookup(lang.Image)
	}
	if errors.Is(err, image.ErrNotFound) {
		return target{}, fmt.Errorf("looking up image %q of %q: %w (%w)", lang.Image, id, errNotRunnable, err)
	}
	if err != nil {
		return target{}, fmt.Errorf("looking up image %q of %q: %w", lang.Image, id, err)
	}
	return target{lang: lang, script: script, image: img, lease: lease}, nil
}

// runnable is the target of language id, and whether it can be run: the
// predicate of the metadata endpoints, which publish only the languages
// that can run.
func (s *Server) runnable(id string) (target, bool) {
	t, err := s.resolve(id, false)
	if err != nil && !errors.Is(err, errNotRunnable) {
		// The store failed: the language is left out, and the operator
		// has to know why.
		s.log.Warn("language unavailable", "language", id, "err", err)
	}
	return t, err == nil
}

// requestable reports whether a request for language id may go on to its
// run: the execute endpoints' check of the language, which refuses only
// what the catalogue and the store say cannot run. A store that fails to
// answer (no descriptor left, an I/O error) is the server's failure, not
// the request's: it fails the run again, which reports it as an internal
// error, where "no such language" would blame the client and tell it not
// to retry.
func (s *Server) requestable(id string) bool {
	_, err := s.resolve(id, false)
	return err == nil || !errors.Is(err, errNotRunnable)
}
