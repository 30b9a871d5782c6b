package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
)

// v1OutputBytes is the v1 cap of each output stream (docs/api.md, "Messages
// from the server").
const v1OutputBytes = 128 << 10

// streamGrace is how long past its timeout a run's output may take to
// reach a slow client.
const streamGrace = 10 * time.Second

// DefaultIdleTimeout is how long a v1 connection may wait for its next
// request, unless Options says otherwise.
const DefaultIdleTimeout = 5 * time.Minute

// executeV1 serves GET /api/v1/ws/execute:
//
//	client                                server
//	  |-- HTTP upgrade ----------------->|  Accept (any origin)
//	  |-- binary message: request ------>|  as v0: a bad one is refused with
//	  |<-- close 1003/1008/1009 ---------|  its close code, and nothing runs
//	  |<-- {"Stdout": bin} --------------|  output as it appears, at most
//	  |<-- {"Stderr": bin} --------------|  16 KiB a message, 128 KiB a stream
//	  |-- "Kill" (any time) ------------>|  kills the run at once
//	  |<-- {"Done": {...}} --------------|
//	  |-- binary message: request ------>|  the connection carries more runs,
//	  |   ...                            |  one at a time
//
// One goroutine reads the connection for its whole life and hands each
// message on: the request loop takes requests between runs, and a run's
// watcher takes Kill (and drops anything else) while one runs. A client that
// goes away ends the reads, which kills a running program.
func (s *Server) executeV1(w http.ResponseWriter, r *http.Request) {
	// The connection's id and client; each request on it is logged with
	// them and its number (run).
	conn0 := s.newRequestLog(w, r, "v1")
	conn, err := websocket.Accept(w, r, acceptOptions())
	if err != nil {
		s.logRequest(conn0, "no upgrade", err)
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.CloseNow()
	log := s.log.With("id", conn0.id, "client", conn0.client, "api", "v1")
	// A hijacked connection's request context ends only after the handler
	// returns: the reader needs one that ends when the handler does (the
	// deferred cancel runs before wg.Wait).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	msgs := make(chan message)
	readErr := make(chan error, 1)
	wg.Go(func() {
		defer close(msgs)
		for {
			m, err := readMessage(ctx, conn)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	})

	for n := 1; ; n++ {
		m, err := s.nextRequest(ctx, msgs, readErr)
		if err != nil {
			s.refuse(ctx, conn, "v1", log, nil, err) // the connection's end: no request
			return
		}
		if m.typ == websocket.MessageBinary && isRunMessage(m.data) {
			// A Kill, Stdin or CloseStdin that crossed its run's Done
			// on the wire.
			n--
			continue
		}
		rl := &requestLog{id: conn0.id, client: conn0.client, clientKey: conn0.clientKey, api: "v1", run: n, start: time.Now()}
		frame, err := m.request()
		if err == nil {
			var req protocol.Request
			req, err = protocol.DecodeV1Request(frame, s.requestable)
			if err == nil {
				err = s.checkExtensions(req)
			}
			if err == nil {
				rl.language = req.Language
				err = s.runV1(withRequestLog(ctx, rl), conn, req, msgs, log.With("run", n, "language", req.Language))
			}
		}
		if err == nil {
			s.logRequest(rl, "done", nil)
			if !s.Draining() {
				continue
			}
			// The run is done, and no other may follow.
			_ = conn.Close(websocket.StatusCode(errDraining.code), errDraining.reason)
			return
		}
		s.logRequest(rl, s.closeConn(conn, "v1", log, rl, err), err)
		return
	}
}

// isRunMessage reports whether a client's message is one it sends while a
// run goes on: Kill, or an interactive run's Stdin and CloseStdin.
func isRunMessage(msg []byte) bool {
	_, isStdin := protocol.StdinOf(msg)
	return isStdin || protocol.IsKill(msg) || protocol.IsCloseStdin(msg)
}

// errClientGone says the connection ended while a program ran.
var errClientGone = errors.New("client went away")

// errIdle says a v1 connection waited too long for its next request.
var errIdle = errors.New("connection idle")

// reasonIdle is the close reason of an idle v1 connection.
const reasonIdle = "idle for too long"

// nextRequest waits for the connection's next message, for at most the idle
// timeout.
func (s *Server) nextRequest(ctx context.Context, msgs <-chan message, readErr <-chan error) (message, error) {
	idle := time.NewTimer(s.idleTimeout)
	defer idle.Stop()
	select {
	case m, ok := <-msgs:
		if !ok {
			return message{}, fmt.Errorf("reading request: %w", <-readErr)
		}
		return m, nil
	case <-idle.C:
		return message{}, errIdle
	case <-s.drain:
		return message{}, errDraining
	case <-ctx.Done():
		return message{}, ctx.Err()
	}
}

// runV1 runs one request, streaming its output, and sends its Done message.
// While it runs, the client's messages are watched: Kill kills the run, the
// end of the connection kills it too (errClientGone), and anything else is
// dropped.
func (s *Server) runV1(ctx context.Context, conn *websocket.Conn, req protocol.Request, msgs <-chan message, log *slog.Logger) error {
	runCtx, kill := context.WithCancel(ctx)
	defer kill()
	var gone bool
	// An interactive run's stdin: Stdin messages, then CloseStdin; past
	// its bound the run is killed and the connection closed (flood).
	var stdin *stdinBuffer
	var flood error
	if req.Interactive {
		stdin = newStdinBuffer(&s.stdinPending)
		defer stdin.Close()
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					gone = true
					kill()
					return
				}
				if m.typ != websocket.MessageBinary {
					continue
				}
				switch data, isStdin := protocol.StdinOf(m.data); {
				case protocol.IsKill(m.data):
					log.Debug("client killed its run")
					kill()
				case stdin != nil && m.size > protocol.MaxRequestSize && protocol.IsStdinStart(m.data):
					// Cut at the bound: not a message StdinOf takes, but
					// no data to drop without a word.
					flood = errStdinTooBig
					kill()
					return
				case stdin != nil && isStdin:
					if err := stdin.Write(data); err != nil {
						flood = err
						kill()
						return
					}
				case stdin != nil && protocol.IsCloseStdin(m.data):
					stdin.CloseWrite()
				}
			case <-stop:
				return
			}
		}
	}()

	// Output is sent within the run's timeout and a grace period, so a
	// client that reads slowly cannot hold the run (and its slot) longer.
	writeCtx, stopWrites := context.WithTimeout(ctx, time.Duration(req.Timeout)*time.Second+streamGrace)
	defer stopWrites()
	sw := &streamWriter{ctx: writeCtx, conn: conn}
	out := output{
		stdout: sw.stream(protocol.Stdout), stderr: sw.stream(protocol.Stderr),
		stdoutBytes: outputCap(req), stderrBytes: outputCap(req),
		customRunner: true,
	}
	if stdin != nil { // not a nil *stdinBuffer in the interface
		out.stdin = stdin
	}
	res, err := s.runQueued(runCtx, req, out, log)
	close(stop)
	<-watched
	if gone {
		return errClientGone
	}
	if flood != nil {
		return flood
	}
	if err != nil {
		return err
	}
	done := doneV1(res)
	limitsReport(&done, req, res)
	msg, err := (&protocol.DoneMessage{Done: done}).MarshalMsg(nil)
	if err != nil {
		return fmt.Errorf("encoding Done: %w", err)
	}
	sw.ctx = ctx // Done gets its own resultWriteTimeout
	return sw.write(protocol.Stream(""), msg)
}

// doneV1 is the v1 Done message of a run.
func doneV1(res job.Result) protocol.Done {
	st := res.Stats
	return protocol.Done{
		StatusType:      res.Status.Type.String(),
		StatusValue:     res.Status.Value,
		TimedOut:        res.TimedOut,
		StdoutTruncated: res.StdoutTruncated,
		StderrTruncated: res.StderrTruncated,
		Real:            st.Real.Nanoseconds(),
		Kernel:          st.Kernel.Nanoseconds(),
		User:            st.User.Nanoseconds(),
		MaxMem:          st.MaxMemKiB,
		Waits:           st.Waits,
		Preemptions:     st.Preemptions,
		MajorPageFaults: st.MajorPageFaults,
		MinorPageFaults: st.MinorPageFaults,
		InputOps:        st.InputOps,
		OutputOps:       st.OutputOps,
	}
}

// streamWriter sends a run's output to a v1 client as it arrives. Stdout and
// stderr are copied by different goroutines; the writer serialises their
// messages. A write that a client does not take within resultWriteTimeout
// fails (and coder/websocket closes the connection), so a client that stops
// reading cannot hold a run's output copying forever.
type streamWriter struct {
	ctx  context.Context
	conn *websocket.Conn
	mu   sync.Mutex
	buf  []byte
}

// stream returns the io.Writer of one output stream.
func (w *streamWriter) stream(name protocol.Stream) streamOf {
	return streamOf{w: w, name: name}
}

// write sends one message: chunk wrapped as {name: chunk}, or, with an
// empty name, chunk as it is.
func (w *streamWriter) write(name protocol.Stream, chunk []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	msg := chunk
	if name != "" {
		w.buf = protocol.AppendOutput(w.buf[:0], name, chunk)
		msg = w.buf
	}
	ctx, cancel := context.WithTimeout(w.ctx, resultWriteTimeout)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return fmt.Errorf("writing to client: %w", err)
	}
	return nil
}

// streamOf is the io.Writer of one stream of a streamWriter. The sandbox
// hands it chunks of at most protocol.MaxChunkSize bytes; longer writes are
// split all the same.
type streamOf struct {
	w    *streamWriter
	name protocol.Stream
}

func (s streamOf) Write(p []byte) (int, error) {
	for done := 0; done < len(p); {
		n := min(len(p)-done, protocol.MaxChunkSize)
		if err := s.w.write(s.name, p[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), nil
}
