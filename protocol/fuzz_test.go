package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strconv"
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

// jsonForm is one way of writing a byte string in a JSON request.
type jsonForm int

const (
	formBase64  jsonForm = iota // {"base64": "..."}
	formNatural                 // Bytes.MarshalJSON: a string when valid UTF-8
	formArray                   // an array of integers 0-255
)

// appendJSONBytes writes s in form.
func appendJSONBytes(b, s []byte, form jsonForm) []byte {
	switch form {
	case formNatural:
		enc, err := Bytes(s).MarshalJSON()
		if err != nil {
			panic(err) // a []byte always marshals
		}
		return append(b, enc...)
	case formArray:
		b = append(b, '[')
		for i, c := range s {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(c), 10)
		}
		return append(b, ']')
	default:
		b = append(b, `{"base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, s)
		return append(b, `"}`...)
	}
}

// appendJSONRequest encodes r as a JSON request, every key present, byte
// strings in form (the language, which takes no array, as base64 then).
func appendJSONRequest(b []byte, r Request, form jsonForm) []byte {
	langForm := form
	if form == formArray {
		langForm = formBase64
	}
	b = append(b, `{"language":`...)
	b = appendJSONBytes(b, []byte(r.Language), langForm)
	b = append(b, `,"code":`...)
	b = appendJSONBytes(b, r.Code, form)
	b = append(b, `,"input":`...)
	b = appendJSONBytes(b, r.Input, form)
	for _, list := range []struct {
		key   string
		items [][]byte
	}{{"options", r.Options}, {"arguments", r.Arguments}} {
		b = append(b, `,"`+list.key+`":[`...)
		for i, s := range list.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONBytes(b, s, form)
		}
		b = append(b, ']')
	}
	b = append(b, `,"timeout":`...)
	b = strconv.AppendInt(b, int64(r.Timeout), 10)
	if r.CustomRunner != nil {
		b = append(b, `,"custom_runner":`...)
		b = appendJSONBytes(b, r.CustomRunner, form)
	}
	return append(b, '}')
}

// decoder is DecodeRequest or DecodeJSONRequest.
type decoder func([]byte, func(string) bool) (Request, error)

// checkDecode runs decode on b and checks what both decoders promise for
// any input: b is left as it was, the work is bounded by b's size, a
// failure is a *RequestError whose close reason fits a close frame, and an
// accepted request meets the contract and survives re-encoding in both
// wire formats (msgpack and each JSON form) unchanged.
func checkDecode(t *testing.T, decode decoder, b []byte) {
	orig := bytes.Clone(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := decode(b, knownLanguages)
	runtime.ReadMemStats(&after)
	if !bytes.Equal(b, orig) {
		t.Fatal("the decoder modified its input")
	}
	// Linear in the input whatever its headers and nesting claim (the
	// constant covers a slice header per element of a "[[],[],...]").
	if n := after.TotalAlloc - before.TotalAlloc; n > 64*uint64(len(b))+1<<20 {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(b), n)
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
	if len(b) > MaxRequestSize {
		t.Fatalf("accepted a request of %d bytes", len(b))
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
	// The request must not alias the input: a server reuses its buffers.
	clear(b)
	defer copy(b, orig)
	again, err := DecodeRequest(appendRequest(nil, r), knownLanguages)
	if err != nil {
		t.Fatalf("re-encoded as msgpack, the request failed to decode: %v", err)
	}
	if !reflect.DeepEqual(again, r) {
		t.Fatalf("re-encoded as msgpack, the request decoded differently (or aliased its input):\n%#v\n%#v", again, r)
	}
	for _, form := range []jsonForm{formBase64, formNatural, formArray} {
		enc := appendJSONRequest(nil, r, form)
		if len(enc) > MaxRequestSize {
			continue // JSON is larger than msgpack: not every request fits
		}
		again, err := DecodeJSONRequest(enc, knownLanguages)
		if err != nil {
			t.Fatalf("re-encoded as JSON (form %d), the request failed to decode: %v\n%s", form, err, enc)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded as JSON (form %d), the request decoded differently:\n%#v\n%#v", form, again, r)
		}
	}
}

// FuzzDecodeRequest checks DecodeRequest against checkDecode's promises.
// The seed corpus is in testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(validMap().Bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkDecode(t, DecodeRequest, frame)
	})
}

// FuzzDecodeJSONRequest checks DecodeJSONRequest against checkDecode's
// promises, and that it refuses what is not one JSON object: the HTTP API
// must never act on a body that another JSON parser would read otherwise.
// The seed corpus is in testdata/fuzz/FuzzDecodeJSONRequest.
func FuzzDecodeJSONRequest(f *testing.F) {
	f.Add([]byte(`{"language":"python","code":"print(1)","input":"","options":[],"arguments":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, DecodeJSONRequest, body)
		if _, err := DecodeJSONRequest(body, knownLanguages); err == nil {
			var obj map[string]json.RawMessage
			if !json.Valid(body) || json.Unmarshal(body, &obj) != nil || obj == nil {
				t.Fatalf("accepted a body that is not one JSON object: %q", body)
			}
		}
	})
}
