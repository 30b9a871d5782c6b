package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
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

	customRunner string         // "": omitted
	limits       map[string]any // nil: omitted
	files        map[string]any // nil: omitted
	interactive  bool           // false: omitted
}

// scaledTimeout is a run's timeout of s seconds stretched by timescale, as
// far as the API's 60 s.
func scaledTimeout(s int) int { return min(60, int(math.Ceil(float64(s)*timescale.Factor()))) }

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
	if j.limits != nil {
		fields = append(fields, field{"limits", j.limits})
	}
	if j.files != nil {
		fields = append(fields, field{"files", j.files})
	}
	if j.interactive {
		fields = append(fields, field{"interactive", true})
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

// exchangeV0 connects to d's v0 endpoint, sends one frame of type typ and
// reads until the server closes. It fails no test, so goroutines may call
// it.
func exchangeV0(d *daemon, typ websocket.MessageType, frame []byte) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(90*time.Second))
	defer cancel()
	start := time.Now()
	o, err := testclient.V0(ctx, d.url("/api/v0/ws/execute"), typ, frame)
	return outcome{result: o.Result, code: o.Code, reason: o.Reason, elapsed: time.Since(start)}, err
}

// send is exchangeV0 for the test's goroutine: it fails the test on an
// error.
func send(t testing.TB, d *daemon, typ websocket.MessageType, frame []byte) outcome {
	t.Helper()
	out, err := exchangeV0(d, typ, frame)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// executeErr runs j and returns its result; it is an error unless a result
// and close 1000 came. It fails no test, so goroutines may call it.
func executeErr(d *daemon, j job) (*protocol.Result, error) {
	frame, err := appendMap(j.fields()...)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	out, err := exchangeV0(d, websocket.MessageBinary, frame)
	if err != nil {
		return nil, err
	}
	if out.result == nil || out.code != websocket.StatusNormalClosure {
		return nil, fmt.Errorf("no result: close %d %q", out.code, out.reason)
	}
	return out.result, nil
}

// execute is executeErr for the test's goroutine: it fails the test unless
// a result and close 1000 came.
func execute(t testing.TB, d *daemon, j job) *protocol.Result {
	t.Helper()
	r, err := executeErr(d, j)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func status(r *protocol.Result) string {
	return fmt.Sprintf("%s/%d", r.StatusType, r.StatusValue)
}
