package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
)

// The output caps of a v0 result (docs/api.md, "v0 result").
const (
	v0StdoutBytes = 128 << 10
	v0StderrBytes = 32 << 10
)

// resultWriteTimeout bounds sending a result to a client that does not read.
const resultWriteTimeout = 30 * time.Second

// defaultEnv is the environment of a run whose image names none.
func defaultEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/ATO/context",
		"LANG=C.UTF-8",
	}
}

// acceptOptions returns the websocket options of the execute endpoints.
func acceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{
		// The execute endpoints are a public API that browser clients
		// (for example, online code golf tools) call from pages on other
		// origins. No cookies or other ambient credentials are honoured,
		// so a cross-site request can do nothing a direct client cannot:
		// the library's same-origin check guards against nothing here.
		// An operator who wants only some sites' pages lists them
		// (Settings.AllowedOrigins), and ServeHTTP refuses the others
		// before the upgrade.
		InsecureSkipVerify: true,
	}
}

// executeV0 serves GET /api/v0/ws/execute:
//
//	client                                server
//	  |-- HTTP upgrade ----------------->|  Accept (any origin)
//	  |-- binary message: request ------>|  readRequest, DecodeRequest
//	  |<-- close 1003/1008/1009 ---------|  if the request is bad: no run
//	  |                                  |  Runner.Run, while watchPeer reads
//	  |                                  |  on: a client that leaves kills
//	  |                                  |  its run
//	  |<-- binary message: result -------|
//	  |<-- close 1000 (1011 on failure) -|
func (s *Server) executeV0(w http.ResponseWriter, r *http.Request) {
	rl := s.newRequestLog(w, r, "v0")
	var err error
	outcome := "no close: the client went away"
	defer func() { s.logRequest(rl, outcome, err) }()
	conn, err := websocket.Accept(w, r, acceptOptions())
	if err != nil {
		// Accept has answered with an HTTP error.
		outcome = "no upgrade"
		return
	}
	// Deferred calls run last first: the connection is closed (a no-op if
	// it already was), which ends watchPeer's reads, and then watchPeer
	// is waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.CloseNow()
	log := s.log.With("id", rl.id, "client", rl.client)
	// After the upgrade the request's context is only cancelled when this
	// handler returns or the server's base context is; that is its use.
	ctx := withRequestLog(r.Context(), rl)

	frame, err := s.readRequest(ctx, conn)
	if err != nil {
		outcome = s.refuse(ctx, conn, "v0", log, rl, err)
		return
	}
	req, err := protocol.DecodeRequest(frame, s.requestable)
	if err != nil {
		outcome = s.refuse(ctx, conn, "v0", log, rl, err)
		return
	}
	rl.language = req.Language
	log = log.With("language", req.Language)

	// The client has nothing more to say, but the connection must still be
	// read: only a read sees its close frame or its end, and a client that
	// goes away must have its run killed.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		defer cancel()
		watchPeer(ctx, conn)
	})

	result, err := s.runV0(runCtx, req, log)
	if err == nil {
		err = writeResult(ctx, conn, result)
	}
	if err != nil && !refused(err) && runCtx.Err() != nil {
		err = fmt.Errorf("%w: %w", errClientGone, err)
	}
	outcome = s.closeConn(conn, "v0", log, rl, err)
}

// errTextFrame says the request arrived as a text message.
var errTextFrame = errors.New("request is a text message")

// tooBigError says the request message was larger than
// protocol.MaxRequestSize.
type tooBigError struct {
	size int64 // the message's real size, in bytes
}

func (e *tooBigError) Error() string {
	return fmt.Sprintf("request of %d bytes is larger than %d bytes", e.size, protocol.MaxRequestSize)
}

// readRequest reads the one request message of a connection, within the
// server's request read timeout.
func (s *Server) readRequest(ctx context.Context, conn *websocket.Conn) (frame []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.readTimeout)
	defer cancel()
	m, err := readMessage(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("reading request: %w", err)
	}
	return m.request()
}

// message is one client message. It is read to its end but kept only up to
// MaxRequestSize+1 bytes: enough to tell a request from a larger message.
type message struct {
	typ  websocket.MessageType
	data []byte
	size int64 // the message's real size
}

// readMessage reads one message. A message larger than MaxRequestSize is
// read to its end, so that the client learns its real size, but not kept.
func readMessage(ctx context.Context, conn *websocket.Conn) (message, error) {
	// The library's own limit would close with its own reason; the
	// contract's reason carries the real size, which only reading tells.
	conn.SetReadLimit(-1)
	typ, r, err := conn.Reader(ctx)
	if err != nil {
		return message{}, err
	}
	data, err := io.ReadAll(io.LimitReader(r, protocol.MaxRequestSize+1))
	if err != nil {
		return message{}, err
	}
	rest, err := io.Copy(io.Discard, r)
	if err != nil {
		return message{}, err
	}
	return message{typ: typ, data: data, size: int64(len(data)) + rest}, nil
}

// request returns the message as a request frame, or why it cannot be one.
func (m message) request() ([]byte, error) {
	switch {
	case m.typ != websocket.MessageBinary:
		return nil, errTextFrame
	case m.size > protocol.MaxRequestSize:
		return nil, &tooBigError{size: m.size}
	default:
		return m.data, nil
	}
}

// closeFor maps an error to the close code and reason a client receives:
// the execute endpoints' own refusals (the drain, the bounds on waiting and
// on a client, the framing errors, an idle v1 connection) here, everything
// else through protocol.CloseFor, which owns the rest of the mapping.
func closeFor(err error) (protocol.CloseCode, string) {
	if r, ok := errors.AsType[*refusal](err); ok {
		return r.code, r.reason
	}
	if errors.Is(err, errTextFrame) {
		return protocol.CloseUnsupportedData, protocol.ReasonBinaryExpected
	}
	if e, ok := errors.AsType[*tooBigError](err); ok {
		return protocol.CloseMessageTooBig, protocol.TooBigReason(e.size)
	}
	if errors.Is(err, errIdle) {
		return protocol.CloseGoingAway, reasonIdle
	}
	return protocol.CloseFor(err)
}

// refuse closes the connection of a request that failed before its run,
// and says how (the close code, or why there was none).
func (s *Server) refuse(ctx context.Context, conn *websocket.Conn, api string, log *slog.Logger, rl *requestLog, err error) string {
	switch {
	case ctx.Err() != nil:
		log.Debug("connection ended with the server", "err", err)
		return "no close: the server ended the connection"
	case refused(err):
		return s.closeConn(conn, api, log, rl, err)
	default:
		// Not a request at all: the client went away, sent a close frame
		// or a broken frame, or overran the read timeout. The library
		// has closed the connection already, as needed.
		log.Debug("reading request", "err", err)
		return "no request"
	}
}

// refusal is a request the server refuses for a reason of its own (ours):
// the close code and reason a websocket client gets (the HTTP API answers
// with a status of its own, and the same reason).
type refusal struct {
	code   protocol.CloseCode
	reason string
}

func (r *refusal) Error() string { return r.reason }

// errDraining: the server is shutting down (Drain) and takes no new request;
// errBusy: too many requests wait for a run slot; errClientBusy and
// errClientRate: a client is past its own limits (clientLimits).
var (
	errDraining   = &refusal{protocol.CloseGoingAway, "server shutting down"}
	errBusy       = &refusal{protocol.CloseTryAgainLater, "server busy: too many requests wait for a run slot; try again later"}
	errClientBusy = &refusal{protocol.CloseTryAgainLater, "too many runs of this client at once; try again later"}
	errClientRate = &refusal{protocol.CloseTryAgainLater, "too many requests of this client a minute; try again later"}
)

// refused reports whether err refuses a request, rather than failing it:
// the client is told why with a close code of its own, and the request's
// line is logged at info, not as the server's error.
func refused(err error) bool {
	return errors.Is(err, errTextFrame) || errors.As(err, new(*tooBigError)) || errors.As(err, new(*protocol.RequestError)) ||
		errors.Is(err, errIdle) || errors.As(err, new(*refusal))
}

// closeConn closes the connection of api (v0, v1) with the code and reason
// for err, counts a refused request, logs the request rl (if not nil), and
// returns the code.
func (s *Server) closeConn(conn *websocket.Conn, api string, log *slog.Logger, rl *requestLog, err error) string {
	if errors.Is(err, errClientGone) {
		return "no close: the client went away"
	}
	code, reason := closeFor(err)
	if refused(err) && rl != nil { // a request refused, not a connection's end
		s.record.Refused(api, int(code))
	}
	// The request's line goes before the close, which waits for the
	// client's answer: by then the client may look for it.
	if rl != nil {
		s.logRequest(rl, strconv.Itoa(int(code)), err)
	}
	if err := conn.Close(websocket.StatusCode(code), reason); err != nil {
		log.Debug("closing websocket", "code", code, "err", err)
	}
	return strconv.Itoa(int(code))
}

// watchPeer reads the connection until it ends, answering pings and close
// frames. A v0 client has nothing more to send: any data message is read
// and dropped.
func watchPeer(ctx context.Context, conn *websocket.Conn) {
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// Execute runs a request given as a value (by `atod run`, say) on the same
// path as the v0 endpoint, after the checks DecodeRequest makes of a frame.
// A bad request is a *protocol.RequestError.
func (s *Server) Execute(ctx context.Context, req protocol.Request) (protocol.Result, error) {
	if err := req.Validate(s.requestable); err != nil {
		return protocol.Result{}, err
	}
	return s.runV0(ctx, req, s.log.With("language", req.Language))
}

// runV0 runs a v0 request and returns its result.
func (s *Server) runV0(ctx context.Context, req protocol.Request, log *slog.Logger) (protocol.Result, error) {
	stdout := newCappedBuffer(v0StdoutBytes)
	stderr := newCappedBuffer(v0StderrBytes)
	// A v0 request's custom_runner is ignored, as are all keys v0 does not
	// know.
	res, err := s.runQueued(ctx, req, output{stdout: stdout, stderr: stderr, stdoutBytes: v0StdoutBytes, stderrBytes: v0StderrBytes}, log)
	if err != nil {
		return protocol.Result{}, err
	}
	return resultV0(res, stdout.Bytes(), stderr.Bytes()), nil
}

// output says where a run's output goes and how much of it is kept.
type output struct {
	stdout, stderr           io.Writer
	stdoutBytes, stderrBytes int64
	customRunner             bool      // honour the request's custom_runner (v1)
	stdin                    io.Reader // an interactive run's (v1), or nil
}

// runQueued runs a request once a run slot is free.
func (s *Server) runQueued(ctx context.Context, req protocol.Request, out output, log *slog.Logger) (job.Result, error) {
	if s.Draining() {
		return job.Result{}, errDraining
	}
	done, err := s.clients.admit(requestLogOf(ctx).clientKey)
	if err != nil {
		return job.Result{}, err
	}
	defer done()
	ctx, cancel := s.runContext(ctx)
	defer cancel()
	wait, err := s.acquire(ctx)
	requestLogOf(ctx).wait = wait
	if errors.Is(err, errBusy) {
		return job.Result{}, err
	}
	if err != nil {
		if ctx.Err() != nil {
			// Killed (or its client gone) while it waited: it ends as any
			// killed run does, never having started.
			return job.Result{Killed: true, Status: job.Status{Type: job.StatusKilled, Value: 9}}, nil
		}
		return job.Result{}, err
	}
	defer s.release()
	return s.run(ctx, req, out, log)
}

// run runs a validated request in the sandbox.
func (s *Server) run(ctx context.Context, req protocol.Request, out output, log *slog.Logger) (job.Result, error) {
	t, err := s.resolve(req.Language, true)
	if errors.Is(err, errNotRunnable) {
		// Its image went away since the request was checked.
		return job.Result{}, &protocol.RequestError{Reason: "no such language: " + req.Language}
	}
	if err != nil {
		return job.Result{}, err
	}
	defer t.lease.Release()
	out.stdout = countedWriter{w: out.stdout, stream: "stdout", record: s.record}
	out.stderr = countedWriter{w: out.stderr, stream: "stderr", record: s.record}
	res, err := s.runner.Run(ctx, s.spec(req, t, out))
	if !errors.Is(err, job.ErrUnsupportedUser) {
		s.record.Ran(req.Language, res, err)
	}
	if errors.Is(err, job.ErrUnsupportedUser) {
		// The image runs as a user this sandbox cannot give a run (a
		// rootless one can give only root): the operator's problem,
		// which the client can only be told of.
		log.Warn("language cannot run here", "image", t.image.Name, "err", err)
		return job.Result{}, &protocol.RequestError{Reason: "language cannot run on this server: " + req.Language}
	}
	if err != nil {
		return job.Result{}, fmt.Errorf("running %s: %w", req.Language, err)
	}
	requestLogOf(ctx).res = &res
	return res, nil
}

// spec builds the sandbox spec of a request.
func (s *Server) spec(req protocol.Request, t target, out output) job.Spec {
	env := t.image.Env
	if len(env) == 0 {
		env = defaultEnv()
	}
	// A v0 request has no limits (its decoder skips the key).
	limits := applyLimits(*s.limits.Load(), req.Limits)
	limits.StdoutBytes = out.stdoutBytes
	limits.StderrBytes = out.stderrBytes
	runner := t.script
	if out.customRunner && req.CustomRunner != nil {
		runner = req.CustomRunner
	}
	image := t.image.Name
	if req.Limits != nil || req.Interactive {
		// Its sandbox is made for it alone: no sandbox of a request's
		// own kind is prepared ahead, or a client could fill the pool
		// with kinds no one else asks for (each set of limits is one).
		image = ""
	}
	return job.Spec{
		Image:  image,
		Rootfs: t.image.Path,
		Files: job.Files{
			Code:      req.Code,
			Input:     req.Input,
			Options:   req.Options,
			Arguments: req.Arguments,
			Runner:    runner,
			Context:   contextFiles(req.Files),
		},
		Command: job.RunnerCommand(),
		Env:     slices.Clone(env),
		UID:     t.image.UID,
		GID:     t.image.GID,
		Timeout: time.Duration(req.Timeout) * time.Second,
		Stdout:  out.stdout,
		Stderr:  out.stderr,
		Limits:  limits,
		Stdin:   out.stdin,
	}
}

// contextFiles are the sandbox's form of a request's files.
func contextFiles(files []protocol.File) []job.ContextFile {
	if len(files) == 0 {
		return nil
	}
	c := make([]job.ContextFile, len(files))
	for i, f := range files {
		c[i] = job.ContextFile{Path: f.Path, Data: f.Data}
	}
	return c
}

// resultV0 is the v0 result of a run.
func resultV0(res job.Result, stdout, stderr []byte) protocol.Result {
	d := doneV1(res) // the one mapping of a run's status and statistics
	return protocol.Result{
		Stdout: stdout, Stderr: stderr,
		StatusType: d.StatusType, StatusValue: d.StatusValue, TimedOut: d.TimedOut,
		Real: d.Real, Kernel: d.Kernel, User: d.User, MaxMem: d.MaxMem,
		Waits: d.Waits, Preemptions: d.Preemptions,
		MajorPageFaults: d.MajorPageFaults, MinorPageFaults: d.MinorPageFaults,
		InputOps: d.InputOps, OutputOps: d.OutputOps,
	}
}

// writeResult sends a result as one binary message.
func writeResult(ctx context.Context, conn *websocket.Conn, result protocol.Result) error {
	msg, err := result.MarshalMsg(nil)
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, resultWriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}
