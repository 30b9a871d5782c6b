package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
)

// Media types of the HTTP API.
const (
	contentJSON    = "application/json"
	contentMsgpack = "application/msgpack"
)

// retryAfterSeconds is what a client at capacity is told to wait.
const retryAfterSeconds = 1

// executeHTTP serves POST /api/v1/execute (ours): one request as a JSON or
// msgpack body (by Content-Type), one response as JSON or msgpack (by
// Accept; JSON unless msgpack is preferred), with the HTTP statuses a REST
// client expects: 400 with the websocket API's reason texts, 413 for a body
// over protocol.MaxRequestSize, 415 for another body type, 503 with
// Retry-After when every run slot is taken, 500 for a failure inside.
func (s *Server) executeHTTP(w http.ResponseWriter, r *http.Request) {
	rl := s.newRequestLog(w, r, "http")
	var logErr error
	outcome := "no answer: the client went away"
	defer func() { s.logRequest(rl, outcome, logErr) }()
	log := s.log.With("id", rl.id, "client", rl.client, "api", "http")
	asMsgpack := prefersMsgpack(r.Header.Get("Accept"), false)
	fail := func(status int, msg string) {
		if status != http.StatusInternalServerError {
			s.record.Refused("http", status)
		}
		outcome = strconv.Itoa(status)
		s.logRequest(rl, outcome, logErr) // before the answer, which a client may act on
		writeHTTPError(w, log, asMsgpack, status, msg)
	}
	drainRefused := func() bool {
		if !s.Draining() {
			return false
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		fail(http.StatusServiceUnavailable, errDraining.reason+"; retry later")
		return true
	}
	if drainRefused() {
		return
	}
	// The body must arrive in good time, and the answer must be taken:
	// neither may hold a run slot or the handler forever. (Per request, not
	// server-wide: a server-wide deadline would cut hijacked websockets.)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.readTimeout))
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var decode func([]byte, func(string) bool) (protocol.Request, error)
	switch mediaType {
	case contentJSON:
		decode = protocol.DecodeJSONRequest
	case contentMsgpack, "application/x-msgpack", "application/vnd.msgpack":
		decode = protocol.DecodeV1Request
	default:
		fail(http.StatusUnsupportedMediaType, "unsupported content type: send application/json or application/msgpack")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, protocol.MaxRequestSize+1))
	if err != nil {
		log.Debug("reading request body", "err", err)
		return
	}
	if len(body) > protocol.MaxRequestSize {
		rest, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		fail(http.StatusRequestEntityTooLarge, protocol.TooBigReason(int64(len(body))+rest))
		return
	}
	// No read deadline from here on: net/http reads the connection in the
	// background to notice a client going away, and a deadline passing
	// there would end the request's context, and with it the run.
	_ = rc.SetReadDeadline(time.Time{})
	req, err := decode(body, s.requestable)
	if err == nil {
		err = s.checkExtensions(req)
	}
	if err == nil && req.Interactive {
		err = &protocol.RequestError{Reason: errInteractiveHTTP.Error()}
	}
	if err != nil {
		logErr = err
		_, reason := protocol.CloseFor(err)
		fail(http.StatusBadRequest, reason)
		return
	}
	rl.language = req.Language
	if drainRefused() { // it began while the body came
		return
	}
	done, err := s.clients.admit(rl.clientKey)
	if err != nil {
		logErr = err
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		fail(http.StatusTooManyRequests, err.Error())
		return
	}
	defer done()
	if !s.tryAcquire() {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		fail(http.StatusServiceUnavailable, "at capacity: every run slot is taken; retry later")
		return
	}
	outCap := outputCap(req)
	stdout := newCappedBuffer(int(outCap))
	stderr := newCappedBuffer(int(outCap))
	runCtx, cancel := s.runContext(withRequestLog(r.Context(), rl))
	res, err := s.run(runCtx, req, output{stdout: stdout, stderr: stderr, stdoutBytes: outCap, stderrBytes: outCap, customRunner: true}, log.With("language", req.Language))
	cancel()
	s.release()
	logErr = err
	_ = rc.SetWriteDeadline(time.Now().Add(resultWriteTimeout))
	switch {
	case err == nil:
	case errors.As(err, new(*protocol.RequestError)):
		_, reason := protocol.CloseFor(err)
		fail(http.StatusBadRequest, reason)
		return
	case r.Context().Err() != nil:
		logErr = fmt.Errorf("%w: %w", errClientGone, err)
		return
	default:
		_, reason := protocol.CloseFor(err)
		fail(http.StatusInternalServerError, reason)
		return
	}
	s.logRequest(rl, "200", nil)
	writeHTTP(w, log, asMsgpack, http.StatusOK, executeResponse(req, res, stdout.Bytes(), stderr.Bytes()))
}

// executeResponse is the HTTP API's answer for a run of req.
func executeResponse(req protocol.Request, res job.Result, stdout, stderr []byte) *protocol.ExecuteResponse {
	d := doneV1(res)
	limitsReport(&d, req, res)
	return &protocol.ExecuteResponse{
		CPUTimeExceeded: d.CPUTimeExceeded,
		Stdout:          stdout, Stderr: stderr,
		StatusType: d.StatusType, StatusValue: d.StatusValue, TimedOut: d.TimedOut,
		StdoutTruncated: d.StdoutTruncated, StderrTruncated: d.StderrTruncated,
		Real: d.Real, Kernel: d.Kernel, User: d.User, MaxMem: d.MaxMem,
		Waits: d.Waits, Preemptions: d.Preemptions,
		MajorPageFaults: d.MajorPageFaults, MinorPageFaults: d.MinorPageFaults,
		InputOps: d.InputOps, OutputOps: d.OutputOps,
		OOMKilled:           res.Stats.OOMKilled,
		MemoryPeak:          res.Stats.MemoryPeakBytes,
		CPUThrottledPeriods: res.Stats.CPUThrottled,
		CPUThrottledTime:    res.Stats.CPUThrottledTime.Nanoseconds(),
	}
}

// msgpackMarshaler is a body msgp can encode.
type msgpackMarshaler interface {
	MarshalMsg([]byte) ([]byte, error)
}

// writeHTTP sends v as msgpack or JSON.
func writeHTTP(w http.ResponseWriter, log *slog.Logger, asMsgpack bool, status int, v msgpackMarshaler) {
	var body []byte
	var err error
	contentType := contentJSON
	if asMsgpack {
		contentType = contentMsgpack
		body, err = v.MarshalMsg(nil)
	} else {
		body, err = json.Marshal(v)
	}
	if err != nil {
		log.Error("encoding response", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		log.Debug("writing response", "err", err)
	}
}

func writeHTTPError(w http.ResponseWriter, log *slog.Logger, asMsgpack bool, status int, msg string) {
	writeHTTP(w, log, asMsgpack, status, &protocol.ErrorResponse{Error: msg})
}

// prefersMsgpack reads an Accept header: whether msgpack is preferred to
// JSON (by q-value, then by order); dflt when the header names neither.
func prefersMsgpack(accept string, dflt bool) bool {
	bestJSON, bestMsgpack := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case contentJSON:
			bestJSON = max(bestJSON, q)
		case contentMsgpack, "application/x-msgpack", "application/vnd.msgpack":
			bestMsgpack = max(bestMsgpack, q)
		}
	}
	switch {
	case bestJSON < 0 && bestMsgpack < 0:
		return dflt
	default:
		return bestMsgpack > bestJSON && bestMsgpack > 0
	}
}

// acquire waits for a run slot (the websocket APIs queue); with no limit it
// returns at once.
func (s *Server) acquire(ctx context.Context) (waited time.Duration, err error) {
	if s.slots == nil {
		return 0, nil
	}
	select {
	case s.slots <- struct{}{}:
		s.record.Waited(0)
		return 0, nil
	default:
	}
	if n, most := s.waiting.Add(1), s.maxWaiting.Load(); most > 0 && n > most {
		s.waiting.Add(-1)
		return 0, errBusy
	}
	defer s.waiting.Add(-1)
	start := time.Now()
	select {
	case s.slots <- struct{}{}:
		s.record.Waited(time.Since(start))
		return time.Since(start), nil
	case <-ctx.Done():
		return time.Since(start), fmt.Errorf("waiting for a run slot: %w", ctx.Err())
	}
}

// tryAcquire takes a run slot if one is free (the HTTP API answers 503
// otherwise); with no limit it always does.
func (s *Server) tryAcquire() bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) release() {
	if s.slots != nil {
		<-s.slots
	}
}
