package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/protocol"
)

// field is one key of a hand-built request map; values are encoded by type:
// string as str, []byte as bin, []string as an array of str, int as int,
// any other msgp-encodable value with msgp.AppendIntf.
type field struct {
	key   string
	value any
}

// encodeMap builds a msgpack map from fields, in order.
func encodeMap(t testing.TB, fields ...field) []byte {
	t.Helper()
	b, err := appendMap(fields...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendMap is encodeMap for code that may not call t.Fatal (goroutines).
func appendMap(fields ...field) ([]byte, error) {
	b := msgp.AppendMapHeader(nil, uint32(len(fields)))
	for _, f := range fields {
		b = msgp.AppendString(b, f.key)
		switch v := f.value.(type) {
		case []string:
			b = msgp.AppendArrayHeader(b, uint32(len(v)))
			for _, s := range v {
				b = msgp.AppendString(b, s)
			}
		default:
			var err error
			if b, err = msgp.AppendIntf(b, v); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// job is a v0 request.
type job struct {
	language  string
	code      string
	input     string
	options   []string
	arguments []string
	timeout   int // 0: omitted

	customRunner string // "": omitted
}

func (j job) encode(t testing.TB) []byte {
	t.Helper()
	return encodeMap(t, j.fields()...)
}

// fields are j's request fields, in order.
func (j job) fields() []field {
	fields := []field{
		{"language", j.language},
		{"code", []byte(j.code)},
		{"input", []byte(j.input)},
		{"options", nonNil(j.options)},
		{"arguments", nonNil(j.arguments)},
	}
	if j.timeout != 0 {
		fields = append(fields, field{"timeout", j.timeout})
	}
	if j.customRunner != "" {
		fields = append(fields, field{"custom_runner", j.customRunner})
	}
	return fields
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// outcome is what the server answered to one v0 connection.
type outcome struct {
	result  *protocol.Result // nil when no result frame came
	code    websocket.StatusCode
	reason  string
	elapsed time.Duration
}

// send connects to the v0 endpoint, sends one frame of type typ and reads
// until the server closes.
func send(t testing.TB, d *daemon, typ websocket.MessageType, frame []byte) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), nil)
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	start := time.Now()
	if err := conn.Write(ctx, typ, frame); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	var out outcome
	for {
		mt, msg, err := conn.Read(ctx)
		if err != nil {
			out.elapsed = time.Since(start)
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("reading: %v", err)
			}
			out.code, out.reason = ce.Code, ce.Reason
			return out
		}
		if mt != websocket.MessageBinary {
			t.Fatalf("server sent a %v frame", mt)
		}
		if out.result != nil {
			t.Fatalf("server sent a second message")
		}
		var r protocol.Result
		if rest, err := r.UnmarshalMsg(msg); err != nil || len(rest) != 0 {
			t.Fatalf("decoding result: %v (%d bytes left)", err, len(rest))
		}
		out.result = &r
	}
}

// execute runs j and fails the test unless a result and close 1000 came.
func execute(t testing.TB, d *daemon, j job) *protocol.Result {
	t.Helper()
	out := send(t, d, websocket.MessageBinary, j.encode(t))
	if out.result == nil || out.code != websocket.StatusNormalClosure {
		t.Fatalf("no result: close %d %q", out.code, out.reason)
	}
	return out.result
}

func status(r *protocol.Result) string {
	return fmt.Sprintf("%s/%d", r.StatusType, r.StatusValue)
}
