package protocol

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// entry is one key of a request map under construction, with the msgpack
// of its value.
type entry struct {
	key   string
	value []byte
}

// reqMap builds request frames key by key, in order, so that tests can
// send any value, of any type, under any key.
type reqMap []entry

// validMap returns a request for the known language "python" using str
// and bin encodings side by side.
func validMap() reqMap {
	return reqMap{
		{"language", msgp.AppendString(nil, "python")},
		{"code", msgp.AppendString(nil, "print(input())")},
		{"input", msgp.AppendBytes(nil, []byte("hi\n"))},
		{"options", strArray("-u")},
		{"arguments", binArray([]byte("a"), []byte("b c"))},
		{"timeout", msgp.AppendInt(nil, 5)},
	}
}

// set returns m with key's value replaced, or appended when absent.
func (m reqMap) set(key string, value []byte) reqMap {
	out := append(reqMap(nil), m...)
	for i := range out {
		if out[i].key == key {
			out[i].value = value
			return out
		}
	}
	return append(out, entry{key, value})
}

// del returns m without key.
func (m reqMap) del(key string) reqMap {
	var out reqMap
	for _, e := range m {
		if e.key != key {
			out = append(out, e)
		}
	}
	return out
}

// bytes encodes m as a msgpack map.
func (m reqMap) bytes() []byte {
	b := msgp.AppendMapHeader(nil, uint32(len(m)))
	for _, e := range m {
		b = msgp.AppendString(b, e.key)
		b = append(b, e.value...)
	}
	return b
}

func strArray(ss ...string) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(ss)))
	for _, s := range ss {
		b = msgp.AppendString(b, s)
	}
	return b
}

func binArray(bs ...[]byte) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(bs)))
	for _, x := range bs {
		b = msgp.AppendBytes(b, x)
	}
	return b
}

// byteArray encodes s as the lax form of a binary: an array of its bytes,
// each a positive fixint or a uint8 (the smallest encodings).
func byteArray(s string) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(s)))
	for i := range len(s) {
		b = msgp.AppendUint8(b, s[i])
	}
	return b
}

// rawArray encodes an array of the given msgpack values, each already
// encoded.
func rawArray(elems ...[]byte) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(elems)))
	for _, e := range elems {
		b = append(b, e...)
	}
	return b
}

// withElem returns the byte array of s with one more element, e, after
// its first i bytes.
func withElem(s string, i int, e []byte) []byte {
	elems := make([][]byte, 0, len(s)+1)
	for j := range len(s) {
		if j == i {
			elems = append(elems, e)
		}
		elems = append(elems, msgp.AppendUint8(nil, s[j]))
	}
	if i >= len(s) {
		elems = append(elems, e)
	}
	return rawArray(elems...)
}

// knownLanguages is the known func of the tests.
func knownLanguages(language string) bool {
	return language == "python" || language == "c_gcc" || language == "ünïcode"
}

// validRequest is what validMap decodes to.
func validRequest() Request {
	return Request{
		Language:  "python",
		Code:      []byte("print(input())"),
		Input:     []byte("hi\n"),
		Options:   [][]byte{[]byte("-u")},
		Arguments: [][]byte{[]byte("a"), []byte("b c")},
		Timeout:   5,
	}
}

// padTo returns m with an unknown key whose str value makes the frame
// exactly size bytes long.
func padTo(tb testing.TB, m reqMap, size int) []byte {
	tb.Helper()
	// A str16 value: 3 header bytes plus the padding; the key "pad" adds
	// 4 bytes and the map header may grow by 0 (fixmap) bytes.
	m = m.set("pad", nil)
	base := len(m.bytes())
	n := size - base - 3
	if n < 256 || n > math.MaxUint16 {
		tb.Fatalf("cannot pad %d bytes to %d with a str16", base, size)
	}
	b := m.set("pad", msgp.AppendString(nil, strings.Repeat("x", n))).bytes()
	if len(b) != size {
		tb.Fatalf("padded frame is %d bytes, want %d", len(b), size)
	}
	return b
}

func TestDecodeRequest(t *testing.T) {
	withRequest := func(f func(*Request)) Request {
		r := validRequest()
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		frame   []byte
		want    Request // when wantErr is ""
		wantErr string
	}{
		{name: "valid", frame: validMap().bytes(), want: validRequest()},
		{
			name: "all bin",
			frame: validMap().
				set("language", msgp.AppendBytes(nil, []byte("python"))).
				set("code", msgp.AppendBytes(nil, []byte("print(input())"))).
				set("options", binArray([]byte("-u"))).bytes(),
			want: validRequest(),
		},
		{
			name:  "all str",
			frame: validMap().set("input", msgp.AppendString(nil, "hi\n")).set("arguments", strArray("a", "b c")).bytes(),
			want:  validRequest(),
		},
		{
			name:  "language as bin with valid UTF-8",
			frame: validMap().set("language", msgp.AppendBytes(nil, []byte("ünïcode"))).bytes(),
			want:  withRequest(func(r *Request) { r.Language = "ünïcode" }),
		},
		{
			name:  "empty code, input, options and arguments",
			frame: validMap().set("code", msgp.AppendString(nil, "")).set("input", msgp.AppendBytes(nil, nil)).set("options", strArray()).set("arguments", binArray()).bytes(),
			want: withRequest(func(r *Request) {
				r.Code, r.Input, r.Options, r.Arguments = []byte{}, []byte{}, [][]byte{}, [][]byte{}
			}),
		},
		{
			name:  "NUL bytes allowed in code and input",
			frame: validMap().set("code", msgp.AppendBytes(nil, []byte("a\x00b"))).set("input", msgp.AppendString(nil, "\x00")).bytes(),
			want:  withRequest(func(r *Request) { r.Code, r.Input = []byte("a\x00b"), []byte("\x00") }),
		},
		{
			name:  "timeout omitted",
			frame: validMap().del("timeout").bytes(),
			want:  withRequest(func(r *Request) { r.Timeout = DefaultTimeout }),
		},
		{name: "timeout 1", frame: validMap().set("timeout", msgp.AppendInt(nil, 1)).bytes(), want: withRequest(func(r *Request) { r.Timeout = 1 })},
		{name: "timeout 60", frame: validMap().set("timeout", msgp.AppendInt(nil, 60)).bytes(), want: withRequest(func(r *Request) { r.Timeout = 60 })},
		{name: "timeout uint8", frame: validMap().set("timeout", []byte{0xcc, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint16", frame: validMap().set("timeout", []byte{0xcd, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint32", frame: validMap().set("timeout", []byte{0xce, 0, 0, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint64", frame: validMap().set("timeout", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int8", frame: validMap().set("timeout", []byte{0xd0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int16", frame: validMap().set("timeout", []byte{0xd1, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int32", frame: validMap().set("timeout", []byte{0xd2, 0, 0, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int64", frame: validMap().set("timeout", []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 7}).bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{
			name:  "unknown keys skipped",
			frame: validMap().set("colour", msgp.AppendMapStrStr(nil, map[string]string{"a": "b"})).set("n", msgp.AppendFloat64(nil, 1.5)).bytes(),
			want:  validRequest(),
		},
		{
			name: "non-string key skipped",
			frame: func() []byte {
				m := validMap()
				b := msgp.AppendMapHeader(nil, uint32(len(m)+1))
				b = msgp.AppendInt(b, 7)
				b = msgp.AppendArrayHeader(b, 1)
				b = msgp.AppendNil(b)
				return append(b, m.bytes()[1:]...) // m has a fixmap header: one byte
			}(),
			want: validRequest(),
		},
		{
			name:  "custom_runner as str",
			frame: validMap().set("custom_runner", msgp.AppendString(nil, "echo hi")).bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "custom_runner as bin",
			frame: validMap().set("custom_runner", msgp.AppendBytes(nil, []byte("echo hi"))).bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "custom_runner nil",
			frame: validMap().set("custom_runner", msgp.AppendNil(nil)).bytes(),
			want:  validRequest(),
		},
		{name: "frame of exactly MaxRequestSize", frame: padTo(t, validMap(), MaxRequestSize), want: validRequest()},

		// Lax binaries: an array of integers 0-255 wherever a bin is.
		{
			name: "every binary as an array of bytes",
			frame: validMap().
				set("code", byteArray("print(input())")).
				set("input", byteArray("hi\n")).
				set("options", rawArray(byteArray("-u"))).
				set("arguments", rawArray(byteArray("a"), byteArray("b c"))).bytes(),
			want: validRequest(),
		},
		{
			name:  "custom_runner as an array of bytes",
			frame: validMap().set("custom_runner", byteArray("echo hi")).bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "options and arguments mixing bin, str and arrays",
			frame: validMap().set("options", rawArray(msgp.AppendString(nil, "-u"), byteArray("-O"), msgp.AppendBytes(nil, []byte("-B")))).set("arguments", rawArray(byteArray("a"), msgp.AppendString(nil, "b c"))).bytes(),
			want: withRequest(func(r *Request) {
				r.Options = [][]byte{[]byte("-u"), []byte("-O"), []byte("-B")}
			}),
		},
		{
			name: "byte values in every integer encoding",
			frame: validMap().set("code", rawArray(
				[]byte{0x00},                            // positive fixint 0
				[]byte{0x7f},                            // positive fixint 127
				[]byte{0xcc, 0xff},                      // uint8 255
				[]byte{0xcd, 0x00, 0xc8},                // uint16 200
				[]byte{0xce, 0, 0, 0, 0xc9},             // uint32 201
				[]byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 0xca}, // uint64 202
				[]byte{0xd0, 0x05},                      // int8 5
				[]byte{0xd1, 0x00, 0xc8},                // int16 200
				[]byte{0xd2, 0, 0, 0, 0xcb},             // int32 203
				[]byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 0xcc}, // int64 204
			)).bytes(),
			want: withRequest(func(r *Request) { r.Code = []byte{0, 127, 255, 200, 201, 202, 5, 200, 203, 204} }),
		},
		{
			name:  "empty arrays as binaries",
			frame: validMap().set("code", rawArray()).set("input", rawArray()).set("options", rawArray(rawArray())).set("custom_runner", rawArray()).bytes(),
			want: withRequest(func(r *Request) {
				r.Code, r.Input, r.Options, r.CustomRunner = []byte{}, []byte{}, [][]byte{{}}, []byte{}
			}),
		},
		{
			name:  "array32 header on a byte array",
			frame: validMap().set("input", append([]byte{0xdd, 0, 0, 0, 3}, 'h', 'i', '\n')).bytes(),
			want:  validRequest(),
		},

		// Range and language.
		{name: "timeout 61", frame: validMap().set("timeout", msgp.AppendInt(nil, 61)).bytes(), wantErr: "invalid request: timeout not in range 1-60: 61"},
		{name: "timeout 0", frame: validMap().set("timeout", msgp.AppendInt(nil, 0)).bytes(), wantErr: "invalid request: timeout not in range 1-60: 0"},
		{name: "timeout -4", frame: validMap().set("timeout", msgp.AppendInt(nil, -4)).bytes(), wantErr: "invalid request: timeout not in range 1-60: -4"},
		{name: "timeout int64 min", frame: validMap().set("timeout", msgp.AppendInt64(nil, math.MinInt64)).bytes(), wantErr: "invalid request: timeout not in range 1-60: -9223372036854775808"},
		{name: "timeout uint64 max", frame: validMap().set("timeout", msgp.AppendUint64(nil, math.MaxUint64)).bytes(), wantErr: "invalid request: timeout not in range 1-60: 18446744073709551615"},
		{name: "timeout 2^32+7", frame: validMap().set("timeout", msgp.AppendUint64(nil, 1<<32+7)).bytes(), wantErr: "invalid request: timeout not in range 1-60: 4294967303"},
		{name: "unknown language", frame: validMap().set("language", msgp.AppendString(nil, "ZSH")).bytes(), wantErr: "invalid request: no such language: ZSH"},
		{name: "language case-sensitive", frame: validMap().set("language", msgp.AppendString(nil, "Python")).bytes(), wantErr: "invalid request: no such language: Python"},
		{name: "NUL in option", frame: validMap().set("options", strArray("-u", "a\x00b")).bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in argument", frame: validMap().set("arguments", binArray([]byte("\x00"))).bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in option as byte array", frame: validMap().set("options", rawArray(byteArray("a\x00"))).bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in argument as byte array", frame: validMap().set("arguments", rawArray(byteArray("\x00"))).bytes(), wantErr: "invalid request: argument contains null byte"},

		// Types.
		{name: "timeout str", frame: validMap().set("timeout", msgp.AppendString(nil, "60")).bytes(), wantErr: "invalid request: timeout: expected an integer, got str"},
		{name: "timeout float64", frame: validMap().set("timeout", msgp.AppendFloat64(nil, 60)).bytes(), wantErr: "invalid request: timeout: expected an integer, got float"},
		{name: "timeout float32", frame: validMap().set("timeout", msgp.AppendFloat32(nil, 60)).bytes(), wantErr: "invalid request: timeout: expected an integer, got float"},
		{name: "timeout nil", frame: validMap().set("timeout", msgp.AppendNil(nil)).bytes(), wantErr: "invalid request: timeout: expected an integer, got nil"},
		{name: "timeout array", frame: validMap().set("timeout", msgp.AppendArrayHeader(msgp.AppendArrayHeader(nil, 1), 0)).bytes(), wantErr: "invalid request: timeout: expected an integer, got array"},
		{name: "timeout bool", frame: validMap().set("timeout", msgp.AppendBool(nil, true)).bytes(), wantErr: "invalid request: timeout: expected an integer, got bool"},
		{name: "language int", frame: validMap().set("language", msgp.AppendInt(nil, 1)).bytes(), wantErr: "invalid request: language: expected str, got int"},
		{name: "language invalid UTF-8", frame: validMap().set("language", msgp.AppendBytes(nil, []byte{0xff, 'a'})).bytes(), wantErr: "invalid request: language: not valid UTF-8"},
		{name: "code int", frame: validMap().set("code", msgp.AppendInt(nil, 1)).bytes(), wantErr: "invalid request: code: expected bin, str or array of bytes, got int"},
		{name: "input nil", frame: validMap().set("input", msgp.AppendNil(nil)).bytes(), wantErr: "invalid request: input: expected bin, str or array of bytes, got nil"},
		{name: "options str", frame: validMap().set("options", msgp.AppendString(nil, "-u")).bytes(), wantErr: "invalid request: options: expected an array, got str"},
		{name: "options element int", frame: validMap().set("options", append(strArray("a", "b")[:3:3], 0x01)).bytes(), wantErr: "invalid request: options[1]: expected bin, str or array of bytes, got int"},
		{name: "arguments map", frame: validMap().set("arguments", msgp.AppendMapHeader(nil, 0)).bytes(), wantErr: "invalid request: arguments: expected an array, got map"},
		{name: "custom_runner int", frame: validMap().set("custom_runner", msgp.AppendInt(nil, 1)).bytes(), wantErr: "invalid request: custom_runner: expected bin, str or array of bytes, got int"},

		// Byte arrays: every element must be an integer 0-255.
		{name: "code element 256", frame: validMap().set("code", withElem("abc", 3, msgp.AppendUint(nil, 256))).bytes(), wantErr: "invalid request: code[3]: expected a byte 0-255, got 256"},
		{name: "code element -1", frame: validMap().set("code", withElem("abc", 1, msgp.AppendInt(nil, -1))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got -1"},
		{name: "code element int16 -200", frame: validMap().set("code", withElem("", 0, []byte{0xd1, 0xff, 0x38})).bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got -200"},
		{name: "code element int64 min", frame: validMap().set("code", withElem("a", 1, msgp.AppendInt64(nil, math.MinInt64))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got -9223372036854775808"},
		{name: "code element uint64 max", frame: validMap().set("code", withElem("a", 1, msgp.AppendUint64(nil, math.MaxUint64))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got 18446744073709551615"},
		{name: "code element float64", frame: validMap().set("code", withElem("a", 0, msgp.AppendFloat64(nil, 65))).bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got float"},
		{name: "code element float32", frame: validMap().set("code", withElem("a", 0, msgp.AppendFloat32(nil, 65))).bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got float"},
		{name: "code element str", frame: validMap().set("code", withElem("a", 1, msgp.AppendString(nil, "b"))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got str"},
		{name: "code element bin", frame: validMap().set("code", withElem("a", 1, msgp.AppendBytes(nil, []byte("b")))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got bin"},
		{name: "code element nil", frame: validMap().set("code", withElem("a", 1, msgp.AppendNil(nil))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got nil"},
		{name: "code element bool", frame: validMap().set("code", withElem("a", 1, msgp.AppendBool(nil, true))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got bool"},
		{name: "code element nested array", frame: validMap().set("code", withElem("a", 1, byteArray("b"))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got array"},
		{name: "code element map", frame: validMap().set("code", withElem("a", 1, msgp.AppendMapHeader(nil, 0))).bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got map"},
		{name: "input element 256", frame: validMap().set("input", withElem("hi", 2, msgp.AppendInt(nil, 256))).bytes(), wantErr: "invalid request: input[2]: expected a byte 0-255, got 256"},
		{name: "custom_runner element -1", frame: validMap().set("custom_runner", withElem("", 0, msgp.AppendInt(nil, -1))).bytes(), wantErr: "invalid request: custom_runner[0]: expected a byte 0-255, got -1"},
		{name: "option element 256", frame: validMap().set("options", rawArray(byteArray("-u"), withElem("-O", 2, msgp.AppendInt(nil, 256)))).bytes(), wantErr: "invalid request: options[1][2]: expected a byte 0-255, got 256"},
		{name: "argument element str", frame: validMap().set("arguments", rawArray(withElem("", 0, msgp.AppendString(nil, "a")))).bytes(), wantErr: "invalid request: arguments[0][0]: expected a byte 0-255, got str"},
		{name: "argument element nested array", frame: validMap().set("arguments", rawArray(rawArray(byteArray("a")))).bytes(), wantErr: "invalid request: arguments[0][0]: expected a byte 0-255, got array"},
		// options is an array of binaries, not one binary: a flat array of
		// integers is an array of non-binaries.
		{name: "options a flat array of bytes", frame: validMap().set("options", byteArray("-u")).bytes(), wantErr: "invalid request: options[0]: expected bin, str or array of bytes, got int"},
		// The language is a name, never a byte array.
		{name: "language a byte array", frame: validMap().set("language", byteArray("python")).bytes(), wantErr: "invalid request: language: expected str, got array"},
		{name: "duplicate key given as byte array", frame: append(validMap().set("code", byteArray("x")), entry{"code", byteArray("y")}).bytes(), wantErr: "invalid request: duplicate field: code"},
		{name: "duplicate key", frame: append(validMap(), entry{"code", msgp.AppendString(nil, "x")}).bytes(), wantErr: "invalid request: duplicate field: code"},

		// Missing keys.
		{name: "missing language", frame: validMap().del("language").bytes(), wantErr: "invalid request: missing field: language"},
		{name: "missing code", frame: validMap().del("code").bytes(), wantErr: "invalid request: missing field: code"},
		{name: "missing input", frame: validMap().del("input").bytes(), wantErr: "invalid request: missing field: input"},
		{name: "missing options", frame: validMap().del("options").bytes(), wantErr: "invalid request: missing field: options"},
		{name: "missing arguments", frame: validMap().del("arguments").bytes(), wantErr: "invalid request: missing field: arguments"},
		{name: "empty map", frame: msgp.AppendMapHeader(nil, 0), wantErr: "invalid request: missing field: language"},

		// Framing and msgpack.
		{name: "extra data", frame: append(validMap().bytes(), 0xc0), wantErr: "invalid request: found extra data"},
		{name: "two maps", frame: append(validMap().bytes(), validMap().bytes()...), wantErr: "invalid request: found extra data"},
		{name: "empty frame", frame: nil, wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "invalid type byte", frame: []byte{0xc1}, wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "invalid type byte in value", frame: validMap().set("pad", []byte{0xc1}).bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "invalid type byte as timeout", frame: validMap().set("timeout", []byte{0xc1}).bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "truncated map", frame: func() []byte { b := validMap().bytes(); return b[:len(b)-1] }(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated str", frame: func() []byte { b := validMap().del("timeout").bytes(); return b[:len(b)-2] }(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "map header claims more entries", frame: append([]byte{0x87}, validMap().bytes()[1:]...), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "array header claims 2^32-1 elements", frame: validMap().del("options").set("options", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}).bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "byte array header claims 2^32-1 elements", frame: validMap().del("code").set("code", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 'a'}).bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "option byte array header claims 2^32-1 elements", frame: validMap().del("options").set("options", rawArray([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 'a'})).bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated byte array", frame: validMap().del("code").set("code", []byte{0x93, 'a'}).bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated element of a byte array", frame: func() []byte {
			b := validMap().del("code").set("code", []byte{0x92, 'a', 0xcd, 0x00, 0x01}).bytes()
			return b[:len(b)-1]
		}(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "invalid type byte in a byte array", frame: validMap().set("code", []byte{0x92, 'a', 0xc1}).bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "array", frame: strArray("python"), wantErr: "invalid request: not a msgpack map"},
		{name: "str", frame: msgp.AppendString(nil, "Kill"), wantErr: "invalid request: not a msgpack map"},
		{name: "nil", frame: msgp.AppendNil(nil), wantErr: "invalid request: not a msgpack map"},
		{name: "frame of MaxRequestSize+1", frame: padTo(t, validMap(), MaxRequestSize+1), wantErr: "invalid request: request of 65537 bytes is larger than 65536 bytes"},

		// Check order: decoding and extra data, then missing keys, then
		// NUL bytes, then the timeout's range, then the language.
		{name: "extra data before missing field", frame: append(validMap().del("code").bytes(), 0x01), wantErr: "invalid request: found extra data"},
		{name: "type error before extra data", frame: append(validMap().set("timeout", msgp.AppendString(nil, "1")).bytes(), 0x01), wantErr: "invalid request: timeout: expected an integer, got str"},
		{name: "missing field before NUL", frame: validMap().del("input").set("options", strArray("\x00")).bytes(), wantErr: "invalid request: missing field: input"},
		{name: "byte error before extra data", frame: append(validMap().set("code", withElem("", 0, msgp.AppendInt(nil, 256))).bytes(), 0x01), wantErr: "invalid request: code[0]: expected a byte 0-255, got 256"},
		{name: "byte error before missing field", frame: validMap().del("input").set("code", withElem("", 0, msgp.AppendInt(nil, 256))).bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got 256"},
		{name: "NUL before timeout", frame: validMap().set("arguments", strArray("\x00")).set("timeout", msgp.AppendInt(nil, 61)).bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "timeout before language", frame: validMap().set("language", msgp.AppendString(nil, "ZSH")).set("timeout", msgp.AppendInt(nil, 0)).bytes(), wantErr: "invalid request: timeout not in range 1-60: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			known := func(l string) bool { calls++; return knownLanguages(l) }
			got, err := DecodeRequest(tt.frame, known)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("DecodeRequest() = %+v, want error %q", got, tt.wantErr)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("DecodeRequest() error = %q, want %q", err, tt.wantErr)
				}
				if _, ok := errors.AsType[*RequestError](err); !ok {
					t.Errorf("DecodeRequest() error is %T, want *RequestError", err)
				}
				if !reflect.DeepEqual(got, Request{}) {
					t.Errorf("DecodeRequest() returned %+v with its error, want the zero Request", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeRequest() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeRequest() =\n%#v\nwant\n%#v", got, tt.want)
			}
			if calls != 1 {
				t.Errorf("known called %d times, want once", calls)
			}
		})
	}
}

func TestDecodeRequestNilKnown(t *testing.T) {
	_, err := DecodeRequest(validMap().bytes(), nil)
	if err == nil || err.Error() != "invalid request: no such language: python" {
		t.Errorf("DecodeRequest(known=nil) error = %v, want no such language", err)
	}
}

func TestDecodeRequestCopies(t *testing.T) {
	frame := validMap().bytes()
	got, err := DecodeRequest(frame, knownLanguages)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0
	}
	if !reflect.DeepEqual(got, validRequest()) {
		t.Errorf("Request changed with its frame: %#v", got)
	}
}

func TestDecodeRequestDeepUnknownValue(t *testing.T) {
	// An unknown key's value nested as deep as a frame allows is skipped,
	// not refused and not fatal.
	base := len(validMap().set("deep", nil).bytes())
	deep := bytes.Repeat([]byte{0x91}, MaxRequestSize-base-1) // fixarray of 1
	deep = append(deep, 0xc0)
	frame := validMap().set("deep", deep).bytes()
	if len(frame) != MaxRequestSize {
		t.Fatalf("frame is %d bytes, want %d", len(frame), MaxRequestSize)
	}
	if _, err := DecodeRequest(frame, knownLanguages); err != nil {
		t.Errorf("DecodeRequest() error = %v", err)
	}
}

func TestRequestErrorText(t *testing.T) {
	err := &RequestError{Reason: "found extra data"}
	if got, want := err.Error(), "invalid request: found extra data"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRequestValidate(t *testing.T) {
	known := func(id string) bool { return id == "python" }
	ok := Request{Language: "python", Code: []byte("print(1)"), Timeout: 60}
	tests := []struct {
		name   string
		mod    func(*Request)
		reason string
	}{
		{"valid", func(*Request) {}, ""},
		{"NUL in option", func(r *Request) { r.Options = [][]byte{[]byte("a\x00")} }, "invalid request: argument contains null byte"},
		{"NUL in argument", func(r *Request) { r.Arguments = [][]byte{[]byte("\x00")} }, "invalid request: argument contains null byte"},
		{"timeout 0", func(r *Request) { r.Timeout = 0 }, "invalid request: timeout not in range 1-60: 0"},
		{"timeout 61", func(r *Request) { r.Timeout = 61 }, "invalid request: timeout not in range 1-60: 61"},
		{"unknown language", func(r *Request) { r.Language = "ZSH" }, "invalid request: no such language: ZSH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.mod(&r)
			err := r.Validate(known)
			switch {
			case tt.reason == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tt.reason != "" && (err == nil || err.Error() != tt.reason):
				t.Errorf("Validate = %v, want %q", err, tt.reason)
			}
		})
	}
}

func TestDecodeRequestByteArrayMemory(t *testing.T) {
	// An array header's count is the client's word: decoding a byte array
	// allocates in proportion to the frame, never to the count claimed.
	huge := []byte{0xdd, 0xff, 0xff, 0xff, 0xff} // array32 of 2^32-1 elements
	full := validMap().del("code").set("code", nil)
	fill := MaxRequestSize - len(full.bytes()) - len(huge)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"code", validMap().del("code").set("code", append(huge, 'a')).bytes()},
		{"option", validMap().del("options").set("options", rawArray(append(huge, 'a'))).bytes()},
		{"frame full of elements", full.set("code", append(huge, bytes.Repeat([]byte{'a'}, fill)...)).bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.frame) > MaxRequestSize {
				t.Fatalf("frame of %d bytes", len(tt.frame))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := DecodeRequest(tt.frame, knownLanguages)
			runtime.ReadMemStats(&after)
			if err == nil || err.Error() != "invalid request: invalid msgpack: unexpected end of data" {
				t.Errorf("DecodeRequest() error = %v, want unexpected end of data", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4*MaxRequestSize {
				t.Errorf("decoding a %d-byte frame allocated %d bytes", len(tt.frame), n)
			}
		})
	}
}
