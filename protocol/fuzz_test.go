package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// appendRequest encodes r as a request map, every key present.
func appendRequest(b []byte, r Request) []byte {
	n := uint32(6)
	if r.CustomRunner != nil {
		n++
	}
	b = msgp.AppendMapHeader(b, n)
	b = msgp.AppendString(b, "language")
	b = msgp.AppendString(b, r.Language)
	b = msgp.AppendString(b, "code")
	b = msgp.AppendBytes(b, r.Code)
	b = msgp.AppendString(b, "input")
	b = msgp.AppendBytes(b, r.Input)
	b = msgp.AppendString(b, "options")
	b = msgp.AppendArrayHeader(b, uint32(len(r.Options)))
	for _, o := range r.Options {
		b = msgp.AppendBytes(b, o)
	}
	b = msgp.AppendString(b, "arguments")
	b = msgp.AppendArrayHeader(b, uint32(len(r.Arguments)))
	for _, a := range r.Arguments {
		b = msgp.AppendBytes(b, a)
	}
	b = msgp.AppendString(b, "timeout")
	b = msgp.AppendInt(b, r.Timeout)
	if r.CustomRunner != nil {
		b = msgp.AppendString(b, "custom_runner")
		b = msgp.AppendBytes(b, r.CustomRunner)
	}
	return b
}

// FuzzDecodeRequest checks that DecodeRequest never panics, fails only with
// a *RequestError, returns only requests that satisfy the contract, and that
// a decoded request re-encodes to a frame decoding to the same request.
// The seed corpus is in testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(validMap().bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		r, err := DecodeRequest(frame, knownLanguages)
		if !bytes.Equal(frame, orig) {
			t.Fatal("DecodeRequest modified its input")
		}
		if err != nil {
			if _, ok := errors.AsType[*RequestError](err); !ok {
				t.Fatalf("error %v is %T, want *RequestError", err, err)
			}
			if code, reason := CloseFor(err); code != ClosePolicyViolation || len(reason) > 123 || !utf8.ValidString(reason) {
				t.Fatalf("CloseFor(%v) = %d %q", err, code, reason)
			}
			return
		}
		if len(frame) > MaxRequestSize {
			t.Fatalf("accepted a frame of %d bytes", len(frame))
		}
		if !knownLanguages(r.Language) {
			t.Fatalf("accepted unknown language %q", r.Language)
		}
		if r.Timeout < 1 || r.Timeout > 60 {
			t.Fatalf("accepted timeout %d", r.Timeout)
		}
		for _, s := range append(append([][]byte{}, r.Options...), r.Arguments...) {
			if bytes.IndexByte(s, 0) >= 0 {
				t.Fatalf("accepted NUL in %q", s)
			}
		}
		if r.Code == nil || r.Input == nil || r.Options == nil || r.Arguments == nil {
			t.Fatalf("accepted a request with a required field nil: %#v", r)
		}
		again, err := DecodeRequest(appendRequest(nil, r), knownLanguages)
		if err != nil {
			t.Fatalf("re-encoded request failed to decode: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded request decoded differently:\n%#v\n%#v", again, r)
		}
	})
}
