// Package server is atod's HTTP and websocket front end. It serves
//
//	GET  /api/v0/ws/execute   a websocket: one request in, one result out
//	GET  /api/v0/metadata     the runnable languages, as msgpack
//	GET  /api/v1/ws/execute   a websocket: streamed output, Done, Kill, reuse
//	GET  /api/v1/metadata     the runnable languages, as msgpack or JSON
//	POST /api/v1/execute      ours: one request, one result, over plain HTTP
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
	"log/slog"
	"net/http"
	"time"

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

	// Limits overrides the sandbox's default limits for every run, where
	// non-zero. The output caps are always those of the API version.
	Limits job.Limits

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
}

// Server is an http.Handler serving atod's API. It is safe for concurrent
// use and holds no per-request state between requests.
type Server struct {
	catalogue   Catalogue
	images      Images
	runner      Runner
	log         *slog.Logger
	limits      job.Limits
	readTimeout time.Duration
	idleTimeout time.Duration
	slots       chan struct{} // run slots in use; nil: unbounded
	mux         *http.ServeMux
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
		catalogue:   opts.Catalogue,
		images:      opts.Images,
		runner:      opts.Runner,
		log:         opts.Logger,
		limits:      opts.Limits,
		readTimeout: opts.RequestReadTimeout,
		idleTimeout: opts.IdleTimeout,
		mux:         http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.readTimeout == 0 {
		s.readTimeout = DefaultRequestReadTimeout
	}
	if opts.Slots < 0 {
		return nil, fmt.Errorf("creating server: negative Slots %d", opts.Slots)
	}
	if opts.Slots > 0 {
		s.slots = make(chan struct{}, opts.Slots)
	}
	if s.idleTimeout == 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	s.mux.HandleFunc("GET /api/v0/ws/execute", s.executeV0)
	s.mux.HandleFunc("GET /api/v0/metadata", s.metadata)
	s.mux.HandleFunc("GET /api/v1/ws/execute", s.executeV1)
	s.mux.HandleFunc("POST /api/v1/execute", s.executeHTTP)
	s.mux.HandleFunc("GET /api/v1/metadata", s.metadataV1)
	return s, nil
}

// ServeHTTP serves one HTTP request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
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
