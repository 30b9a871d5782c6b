// Package testclient is the client side of atod's protocol as the tests
// speak it: the v0 exchange, the v1 messages and the HTTP API's POST. Its
// functions return errors rather than fail a test, so that goroutines may
// call them; only tests import it. It does not depend on the sandbox or the
// image store.
package testclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/protocol"
)

// ReadLimit is the largest message the tests read: a v0 result is up to
// about 160 KiB.
const ReadLimit = 1 << 20

// Outcome is what the server answered on one v0 connection.
type Outcome struct {
	Result *protocol.Result // nil when no result came
	Code   websocket.StatusCode
	Reason string
}

// ReadV0 reads a v0 result, if one comes, and the server's close.
func ReadV0(ctx context.Context, conn *websocket.Conn) (Outcome, error) {
	var out Outcome
	for {
		typ, msg, err := conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				return out, fmt.Errorf("reading: %w (want a close frame)", err)
			}
			out.Code, out.Reason = ce.Code, ce.Reason
			return out, nil
		}
		if typ != websocket.MessageBinary {
			return out, fmt.Errorf("server sent a %v message, want binary", typ)
		}
		if out.Result != nil {
			return out, errors.New("server sent a second message after the result")
		}
		var r protocol.Result
		if rest, err := r.UnmarshalMsg(msg); err != nil || len(rest) != 0 {
			return out, fmt.Errorf("decoding result: %w (%d bytes left)", err, len(rest))
		}
		out.Result = &r
	}
}

// V0 dials url (a v0 execute endpoint), sends frame as a message of type
// typ and reads until the server closes.
func V0(ctx context.Context, url string, typ websocket.MessageType, frame []byte) (Outcome, error) {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return Outcome{}, fmt.Errorf("dialing %s: %w", url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(ReadLimit)
	if err := conn.Write(ctx, typ, frame); err != nil {
		return Outcome{}, fmt.Errorf("writing request: %w", err)
	}
	return ReadV0(ctx, conn)
}

// Frame is one server message of a v1 run.
type Frame struct {
	At     time.Time // when it was read
	Stream string    // "Stdout", "Stderr" or "Done"
	Data   []byte    // Stdout's or Stderr's
	Done   protocol.Done
}

// doneKeys are the keys of a Done message, in the contract's order, and
// limitsKeys those that follow them in the Done of a run whose request set
// limits (an extension of ours), and only there (the caller checks that:
// Done.OOMKilled is nil without limits).
const (
	doneKeys   = "status_type status_value timed_out stdout_truncated stderr_truncated real kernel user max_mem waits preemptions major_page_faults minor_page_faults input_ops output_ops"
	limitsKeys = " oom_killed cpu_time_exceeded"
)

// ReadV1 reads one server message of a v1 run and checks its form: a
// one-key map, output as a bin of 1 to protocol.MaxChunkSize bytes, a Done
// of exactly the contract's keys. A read error (a close among them) is
// returned wrapped.
func ReadV1(ctx context.Context, conn *websocket.Conn) (Frame, error) {
	typ, msg, err := conn.Read(ctx)
	if err != nil {
		return Frame{}, fmt.Errorf("reading: %w", err)
	}
	f := Frame{At: time.Now()}
	if typ != websocket.MessageBinary {
		return f, fmt.Errorf("server sent a %v message", typ)
	}
	n, rest, err := msgp.ReadMapHeaderBytes(msg)
	if err != nil || n != 1 {
		return f, fmt.Errorf("server message is not a one-key map: %v (%d keys)", err, n)
	}
	key, rest, err := msgp.ReadStringBytes(rest)
	if err != nil {
		return f, fmt.Errorf("reading a message's key: %w", err)
	}
	f.Stream = key
	switch key {
	case "Stdout", "Stderr":
		if msgp.NextType(rest) != msgp.BinType {
			return f, fmt.Errorf("%s is not bin", key)
		}
		f.Data, rest, err = msgp.ReadBytesBytes(rest, nil)
		if err == nil && (len(f.Data) == 0 || len(f.Data) > protocol.MaxChunkSize) {
			err = fmt.Errorf("a chunk of %d bytes", len(f.Data))
		}
	case "Done":
		if err = checkDoneKeys(rest); err == nil {
			var dm protocol.DoneMessage
			rest, err = dm.UnmarshalMsg(msg)
			f.Done = dm.Done
		}
	default:
		err = errors.New("unknown message")
	}
	if err != nil || len(rest) != 0 {
		return f, fmt.Errorf("decoding %s: %w (%d bytes left)", key, err, len(rest))
	}
	return f, nil
}

// checkDoneKeys checks that the map of a Done message holds exactly the
// contract's keys.
func checkDoneKeys(done []byte) error {
	n, rest, err := msgp.ReadMapHeaderBytes(done)
	if err != nil {
		return fmt.Errorf("the Done message is not a map: %w", err)
	}
	keys := make([]string, 0, n)
	for range n {
		var k []byte
		if k, rest, err = msgp.ReadStringZC(rest); err != nil {
			return fmt.Errorf("a key of Done: %w", err)
		}
		keys = append(keys, string(k))
		if rest, err = msgp.Skip(rest); err != nil {
			return fmt.Errorf("the Done message's %s: %w", k, err)
		}
	}
	if got := strings.Join(keys, " "); got != doneKeys && got != doneKeys+limitsKeys {
		return fmt.Errorf("the Done message's keys %q, want %q", got, doneKeys)
	}
	return nil
}

// PostExecute sends body to POST base/api/v1/execute with the content type
// (none when "") and Accept (none when "") given, and returns the response
// with its body read.
func PostExecute(ctx context.Context, client *http.Client, base, contentType, accept string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/execute", bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("making the request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("posting: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp, b, nil
}
