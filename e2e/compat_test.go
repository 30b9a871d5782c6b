package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// Compatibility with clients that encode bytes as arrays of integers
// (Python's list(b"...") through msgpack, say), and the close reasons they
// and the seed's clients rely on, on every execute endpoint.

// jsonInts is s as a JSON array of its bytes.
func jsonInts(s string) string {
	ints := make([]string, len(s))
	for i := range len(s) {
		ints[i] = strconv.Itoa(int(s[i]))
	}
	return "[" + strings.Join(ints, ", ") + "]"
}

// The program of the compatibility runs: it shows that its code, its input,
// an interpreter option (-O turns __debug__ off) and its arguments all
// arrived as the bytes the arrays stood for.
const (
	compatCode   = "import sys;print(input()[::-1], sys.argv[1:], __debug__)"
	compatInput  = "olleh\n"
	compatOption = "-O"
	compatArg    = "\xc3\xa9" // é: bytes over 127, sent as uint8s
	compatStdout = "hello ['a', 'é'] False\n"
)

// compatFrame is the msgpack request of the compatibility run: every
// binary an array of integers, in both widths, beside a str argument.
func compatFrame(t testing.TB) []byte {
	t.Helper()
	return encodeMap(t,
		field{"language", "python"},
		field{"code", atodtest.ByteInts(compatCode, false)},
		field{"input", atodtest.ByteInts(compatInput, true)},
		field{"options", atodtest.RawArray(atodtest.ByteInts(compatOption, false))},
		field{"arguments", atodtest.RawArray(msgp.AppendString(nil, "a"), atodtest.ByteInts(compatArg, false))},
		field{"timeout", 30},
	)
}

// compatJSON is compatFrame as a JSON body.
func compatJSON() string {
	return `{"language": "python", "code": ` + jsonInts(compatCode) + `, "input": ` + jsonInts(compatInput) +
		`, "options": [` + jsonInts(compatOption) + `], "arguments": ["a", ` + jsonInts(compatArg) + `], "timeout": 30}`
}

func TestCompatByteArrays(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	t.Run("v0", func(t *testing.T) {
		out := send(t, d, websocket.MessageBinary, compatFrame(t))
		if out.result == nil || out.code != websocket.StatusNormalClosure {
			t.Fatalf("no result: close %d %q", out.code, out.reason)
		}
		if r := out.result; string(r.Stdout) != compatStdout || status(r) != "exited/0" {
			t.Errorf("%s stdout %q (want %q) stderr %q", status(r), r.Stdout, compatStdout, r.Stderr)
		}
	})
	t.Run("v1", func(t *testing.T) {
		c := dialV1(t, d)
		c.send(compatFrame(t))
		frames := c.untilDone()
		if out, done := joined(frames, "Stdout"), doneOf(frames); string(out) != compatStdout || done.StatusType != "exited" || done.StatusValue != 0 {
			t.Errorf("%s/%d stdout %q (want %q) stderr %q", done.StatusType, done.StatusValue, out, compatStdout, joined(frames, "Stderr"))
		}
		// custom_runner is a binary too.
		c.send(encodeMap(t,
			field{"language", "python"}, field{"code", ""}, field{"input", atodtest.ByteInts("drawer", false)},
			field{"options", []string{}}, field{"arguments", []string{}},
			field{"custom_runner", atodtest.ByteInts(reverser, false)}, field{"timeout", 30},
		))
		frames = c.untilDone()
		if out := joined(frames, "Stdout"); string(out) != "reward\n" {
			t.Errorf("custom runner as an array: stdout %q stderr %q", out, joined(frames, "Stderr"))
		}
	})
	t.Run("HTTP msgpack", func(t *testing.T) {
		resp, b := postExecute(t, d, "application/msgpack", "application/msgpack", compatFrame(t))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		var r protocol.ExecuteResponse
		if _, err := r.UnmarshalMsg(b); err != nil {
			t.Fatal(err)
		}
		if string(r.Stdout) != compatStdout || r.StatusType != "exited" || r.StatusValue != 0 {
			t.Errorf("%s/%d stdout %q (want %q) stderr %q", r.StatusType, r.StatusValue, r.Stdout, compatStdout, r.Stderr)
		}
	})
	t.Run("HTTP JSON", func(t *testing.T) {
		r := executeJSON(t, d, compatJSON())
		if string(r.Stdout) != compatStdout || r.StatusType != "exited" || r.StatusValue != 0 {
			t.Errorf("%s/%d stdout %q (want %q) stderr %q", r.StatusType, r.StatusValue, r.Stdout, compatStdout, r.Stderr)
		}
	})
	assertNoLeftovers(t, d)
}

func TestCompatRefusals(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	request := func(code, options any) []byte {
		return encodeMap(t, field{"language", "python"}, field{"code", code}, field{"input", ""},
			field{"options", options}, field{"arguments", []string{}})
	}
	const jsonRequest = `{"language": "python", "code": %s, "input": "", "options": %s, "arguments": []}`
	tests := []struct {
		name    string
		msgpack []byte
		json    string
		reason  string
	}{
		{
			name:    "NUL in an option",
			msgpack: request("", []string{"-a\x00b"}),
			json:    fmt.Sprintf(jsonRequest, `""`, `["-a\u0000b"]`),
			reason:  "invalid request: argument contains null byte",
		},
		{
			name:    "NUL in an option given as integers",
			msgpack: request("", atodtest.RawArray(atodtest.ByteInts("-a\x00b", false))),
			json:    fmt.Sprintf(jsonRequest, `""`, "["+jsonInts("-a\x00b")+"]"),
			reason:  "invalid request: argument contains null byte",
		},
		{
			name:    "256 in the code",
			msgpack: request(atodtest.RawArray(msgp.AppendUint8(nil, 'a'), msgp.AppendUint8(nil, 'b'), msgp.AppendUint8(nil, 'c'), msgp.AppendUint16(nil, 256)), []string{}),
			json:    fmt.Sprintf(jsonRequest, `[97, 98, 99, 256]`, `[]`),
			reason:  "invalid request: code[3]: expected a byte 0-255, got 256",
		},
		{
			name:    "256 in an option",
			msgpack: request("", atodtest.RawArray(atodtest.RawArray(msgp.AppendUint8(nil, '-'), msgp.AppendInt16(nil, 256)))),
			json:    fmt.Sprintf(jsonRequest, `""`, `[[45, 256]]`),
			reason:  "invalid request: options[0][1]: expected a byte 0-255, got 256",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("v0", func(t *testing.T) {
				out := send(t, d, websocket.MessageBinary, tt.msgpack)
				if out.code != websocket.StatusPolicyViolation || out.reason != tt.reason || out.result != nil {
					t.Errorf("close %d %q (result %v), want 1008 %q", out.code, out.reason, out.result != nil, tt.reason)
				}
				if out.elapsed > timescale.D(100*time.Millisecond) {
					t.Errorf("refusal took %v", out.elapsed)
				}
			})
			t.Run("v1", func(t *testing.T) {
				c := dialV1(t, d)
				start := time.Now()
				c.send(tt.msgpack)
				_, err := c.next()
				elapsed := time.Since(start)
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != tt.reason {
					t.Errorf("got %v, want close 1008 %q", err, tt.reason)
				}
				if elapsed > timescale.D(100*time.Millisecond) {
					t.Errorf("refusal took %v", elapsed)
				}
			})
			for _, body := range []struct{ contentType, body string }{
				{"application/msgpack", string(tt.msgpack)},
				{"application/json", tt.json},
			} {
				t.Run("HTTP "+body.contentType, func(t *testing.T) {
					resp, b := postExecute(t, d, body.contentType, "", []byte(body.body))
					var e protocol.ErrorResponse
					if err := json.Unmarshal(b, &e); err != nil {
						t.Fatalf("status %d, answer %q: %v", resp.StatusCode, b, err)
					}
					if resp.StatusCode != 400 || e.Error != tt.reason {
						t.Errorf("%d %q, want 400 %q", resp.StatusCode, e.Error, tt.reason)
					}
				})
			}
		})
	}
	assertNoLeftovers(t, d)
}
