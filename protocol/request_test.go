package protocol

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
)

// validMap returns a request for the known language "python" using str
// and bin encodings side by side.
func validMap() atodtest.RawMap {
	return atodtest.RawMap{
		{Key: "language", Value: msgp.AppendString(nil, "python")},
		{Key: "code", Value: msgp.AppendString(nil, "print(input())")},
		{Key: "input", Value: msgp.AppendBytes(nil, []byte("hi\n"))},
		{Key: "options", Value: atodtest.StrArray("-u")},
		{Key: "arguments", Value: binArray([]byte("a"), []byte("b c"))},
		{Key: "timeout", Value: msgp.AppendInt(nil, 5)},
	}
}

func binArray(bs ...[]byte) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(bs)))
	for _, x := range bs {
		b = msgp.AppendBytes(b, x)
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
	return atodtest.RawArray(elems...)
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
		{name: "valid", frame: validMap().Bytes(), want: validRequest()},
		{
			name: "all bin",
			frame: validMap().
				Set("language", msgp.AppendBytes(nil, []byte("python"))).
				Set("code", msgp.AppendBytes(nil, []byte("print(input())"))).
				Set("options", binArray([]byte("-u"))).Bytes(),
			want: validRequest(),
		},
		{
			name:  "all str",
			frame: validMap().Set("input", msgp.AppendString(nil, "hi\n")).Set("arguments", atodtest.StrArray("a", "b c")).Bytes(),
			want:  validRequest(),
		},
		{
			name:  "language as bin with valid UTF-8",
			frame: validMap().Set("language", msgp.AppendBytes(nil, []byte("ünïcode"))).Bytes(),
			want:  withRequest(func(r *Request) { r.Language = "ünïcode" }),
		},
		{
			name:  "empty code, input, options and arguments",
			frame: validMap().Set("code", msgp.AppendString(nil, "")).Set("input", msgp.AppendBytes(nil, nil)).Set("options", atodtest.StrArray()).Set("arguments", binArray()).Bytes(),
			want: withRequest(func(r *Request) {
				r.Code, r.Input, r.Options, r.Arguments = []byte{}, []byte{}, [][]byte{}, [][]byte{}
			}),
		},
		{
			name:  "NUL bytes allowed in code and input",
			frame: validMap().Set("code", msgp.AppendBytes(nil, []byte("a\x00b"))).Set("input", msgp.AppendString(nil, "\x00")).Bytes(),
			want:  withRequest(func(r *Request) { r.Code, r.Input = []byte("a\x00b"), []byte("\x00") }),
		},
		{
			name:  "timeout omitted",
			frame: validMap().Del("timeout").Bytes(),
			want:  withRequest(func(r *Request) { r.Timeout = DefaultTimeout }),
		},
		{name: "timeout 1", frame: validMap().Set("timeout", msgp.AppendInt(nil, 1)).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 1 })},
		{name: "timeout 60", frame: validMap().Set("timeout", msgp.AppendInt(nil, 60)).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 60 })},
		{name: "timeout uint8", frame: validMap().Set("timeout", []byte{0xcc, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint16", frame: validMap().Set("timeout", []byte{0xcd, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint32", frame: validMap().Set("timeout", []byte{0xce, 0, 0, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout uint64", frame: validMap().Set("timeout", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int8", frame: validMap().Set("timeout", []byte{0xd0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int16", frame: validMap().Set("timeout", []byte{0xd1, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int32", frame: validMap().Set("timeout", []byte{0xd2, 0, 0, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{name: "timeout int64", frame: validMap().Set("timeout", []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 7}).Bytes(), want: withRequest(func(r *Request) { r.Timeout = 7 })},
		{
			name:  "unknown keys skipped",
			frame: validMap().Set("colour", msgp.AppendMapStrStr(nil, map[string]string{"a": "b"})).Set("n", msgp.AppendFloat64(nil, 1.5)).Bytes(),
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
				return append(b, m.Bytes()[1:]...) // m has a fixmap header: one byte
			}(),
			want: validRequest(),
		},
		{
			name:  "custom_runner as str",
			frame: validMap().Set("custom_runner", msgp.AppendString(nil, "echo hi")).Bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "custom_runner as bin",
			frame: validMap().Set("custom_runner", msgp.AppendBytes(nil, []byte("echo hi"))).Bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "custom_runner nil",
			frame: validMap().Set("custom_runner", msgp.AppendNil(nil)).Bytes(),
			want:  validRequest(),
		},
		{name: "frame of exactly MaxRequestSize", frame: validMap().Padded(t, MaxRequestSize), want: validRequest()},

		// Lax binaries: an array of integers 0-255 wherever a bin is.
		{
			name: "every binary as an array of bytes",
			frame: validMap().
				Set("code", atodtest.ByteInts("print(input())", false)).
				Set("input", atodtest.ByteInts("hi\n", false)).
				Set("options", atodtest.RawArray(atodtest.ByteInts("-u", false))).
				Set("arguments", atodtest.RawArray(atodtest.ByteInts("a", false), atodtest.ByteInts("b c", false))).Bytes(),
			want: validRequest(),
		},
		{
			name:  "custom_runner as an array of bytes",
			frame: validMap().Set("custom_runner", atodtest.ByteInts("echo hi", false)).Bytes(),
			want:  withRequest(func(r *Request) { r.CustomRunner = []byte("echo hi") }),
		},
		{
			name:  "options and arguments mixing bin, str and arrays",
			frame: validMap().Set("options", atodtest.RawArray(msgp.AppendString(nil, "-u"), atodtest.ByteInts("-O", false), msgp.AppendBytes(nil, []byte("-B")))).Set("arguments", atodtest.RawArray(atodtest.ByteInts("a", false), msgp.AppendString(nil, "b c"))).Bytes(),
			want: withRequest(func(r *Request) {
				r.Options = [][]byte{[]byte("-u"), []byte("-O"), []byte("-B")}
			}),
		},
		{
			name: "byte values in every integer encoding",
			frame: validMap().Set("code", atodtest.RawArray(
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
			)).Bytes(),
			want: withRequest(func(r *Request) { r.Code = []byte{0, 127, 255, 200, 201, 202, 5, 200, 203, 204} }),
		},
		{
			name:  "empty arrays as binaries",
			frame: validMap().Set("code", atodtest.RawArray()).Set("input", atodtest.RawArray()).Set("options", atodtest.RawArray(atodtest.RawArray())).Set("custom_runner", atodtest.RawArray()).Bytes(),
			want: withRequest(func(r *Request) {
				r.Code, r.Input, r.Options, r.CustomRunner = []byte{}, []byte{}, [][]byte{{}}, []byte{}
			}),
		},
		{
			name:  "array32 header on a byte array",
			frame: validMap().Set("input", append([]byte{0xdd, 0, 0, 0, 3}, 'h', 'i', '\n')).Bytes(),
			want:  validRequest(),
		},

		// Range and language.
		{name: "timeout 61", frame: validMap().Set("timeout", msgp.AppendInt(nil, 61)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: 61"},
		{name: "timeout 0", frame: validMap().Set("timeout", msgp.AppendInt(nil, 0)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: 0"},
		{name: "timeout -4", frame: validMap().Set("timeout", msgp.AppendInt(nil, -4)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: -4"},
		{name: "timeout int64 min", frame: validMap().Set("timeout", msgp.AppendInt64(nil, math.MinInt64)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: -9223372036854775808"},
		{name: "timeout uint64 max", frame: validMap().Set("timeout", msgp.AppendUint64(nil, math.MaxUint64)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: 18446744073709551615"},
		{name: "timeout 2^32+7", frame: validMap().Set("timeout", msgp.AppendUint64(nil, 1<<32+7)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: 4294967303"},
		{name: "unknown language", frame: validMap().Set("language", msgp.AppendString(nil, "ZSH")).Bytes(), wantErr: "invalid request: no such language: ZSH"},
		{name: "language case-sensitive", frame: validMap().Set("language", msgp.AppendString(nil, "Python")).Bytes(), wantErr: "invalid request: no such language: Python"},
		{name: "NUL in option", frame: validMap().Set("options", atodtest.StrArray("-u", "a\x00b")).Bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in argument", frame: validMap().Set("arguments", binArray([]byte("\x00"))).Bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in option as byte array", frame: validMap().Set("options", atodtest.RawArray(atodtest.ByteInts("a\x00", false))).Bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "NUL in argument as byte array", frame: validMap().Set("arguments", atodtest.RawArray(atodtest.ByteInts("\x00", false))).Bytes(), wantErr: "invalid request: argument contains null byte"},

		// Types.
		{name: "timeout str", frame: validMap().Set("timeout", msgp.AppendString(nil, "60")).Bytes(), wantErr: "invalid request: timeout: expected an integer, got str"},
		{name: "timeout float64", frame: validMap().Set("timeout", msgp.AppendFloat64(nil, 60)).Bytes(), wantErr: "invalid request: timeout: expected an integer, got float"},
		{name: "timeout float32", frame: validMap().Set("timeout", msgp.AppendFloat32(nil, 60)).Bytes(), wantErr: "invalid request: timeout: expected an integer, got float"},
		{name: "timeout nil", frame: validMap().Set("timeout", msgp.AppendNil(nil)).Bytes(), wantErr: "invalid request: timeout: expected an integer, got nil"},
		{name: "timeout array", frame: validMap().Set("timeout", msgp.AppendArrayHeader(msgp.AppendArrayHeader(nil, 1), 0)).Bytes(), wantErr: "invalid request: timeout: expected an integer, got array"},
		{name: "timeout bool", frame: validMap().Set("timeout", msgp.AppendBool(nil, true)).Bytes(), wantErr: "invalid request: timeout: expected an integer, got bool"},
		{name: "language int", frame: validMap().Set("language", msgp.AppendInt(nil, 1)).Bytes(), wantErr: "invalid request: language: expected str, got int"},
		{name: "language invalid UTF-8", frame: validMap().Set("language", msgp.AppendBytes(nil, []byte{0xff, 'a'})).Bytes(), wantErr: "invalid request: language: not valid UTF-8"},
		{name: "code int", frame: validMap().Set("code", msgp.AppendInt(nil, 1)).Bytes(), wantErr: "invalid request: code: expected bin, str or array of bytes, got int"},
		{name: "input nil", frame: validMap().Set("input", msgp.AppendNil(nil)).Bytes(), wantErr: "invalid request: input: expected bin, str or array of bytes, got nil"},
		{name: "options str", frame: validMap().Set("options", msgp.AppendString(nil, "-u")).Bytes(), wantErr: "invalid request: options: expected an array, got str"},
		{name: "options element int", frame: validMap().Set("options", append(atodtest.StrArray("a", "b")[:3:3], 0x01)).Bytes(), wantErr: "invalid request: options[1]: expected bin, str or array of bytes, got int"},
		{name: "arguments map", frame: validMap().Set("arguments", msgp.AppendMapHeader(nil, 0)).Bytes(), wantErr: "invalid request: arguments: expected an array, got map"},
		{name: "custom_runner int", frame: validMap().Set("custom_runner", msgp.AppendInt(nil, 1)).Bytes(), wantErr: "invalid request: custom_runner: expected bin, str or array of bytes, got int"},

		// Byte arrays: every element must be an integer 0-255.
		{name: "code element 256", frame: validMap().Set("code", withElem("abc", 3, msgp.AppendUint(nil, 256))).Bytes(), wantErr: "invalid request: code[3]: expected a byte 0-255, got 256"},
		{name: "code element -1", frame: validMap().Set("code", withElem("abc", 1, msgp.AppendInt(nil, -1))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got -1"},
		{name: "code element int16 -200", frame: validMap().Set("code", withElem("", 0, []byte{0xd1, 0xff, 0x38})).Bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got -200"},
		{name: "code element int64 min", frame: validMap().Set("code", withElem("a", 1, msgp.AppendInt64(nil, math.MinInt64))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got -9223372036854775808"},
		{name: "code element uint64 max", frame: validMap().Set("code", withElem("a", 1, msgp.AppendUint64(nil, math.MaxUint64))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got 18446744073709551615"},
		{name: "code element float64", frame: validMap().Set("code", withElem("a", 0, msgp.AppendFloat64(nil, 65))).Bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got float"},
		{name: "code element float32", frame: validMap().Set("code", withElem("a", 0, msgp.AppendFloat32(nil, 65))).Bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got float"},
		{name: "code element str", frame: validMap().Set("code", withElem("a", 1, msgp.AppendString(nil, "b"))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got str"},
		{name: "code element bin", frame: validMap().Set("code", withElem("a", 1, msgp.AppendBytes(nil, []byte("b")))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got bin"},
		{name: "code element nil", frame: validMap().Set("code", withElem("a", 1, msgp.AppendNil(nil))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got nil"},
		{name: "code element bool", frame: validMap().Set("code", withElem("a", 1, msgp.AppendBool(nil, true))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got bool"},
		{name: "code element nested array", frame: validMap().Set("code", withElem("a", 1, atodtest.ByteInts("b", false))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got array"},
		{name: "code element map", frame: validMap().Set("code", withElem("a", 1, msgp.AppendMapHeader(nil, 0))).Bytes(), wantErr: "invalid request: code[1]: expected a byte 0-255, got map"},
		{name: "input element 256", frame: validMap().Set("input", withElem("hi", 2, msgp.AppendInt(nil, 256))).Bytes(), wantErr: "invalid request: input[2]: expected a byte 0-255, got 256"},
		{name: "custom_runner element -1", frame: validMap().Set("custom_runner", withElem("", 0, msgp.AppendInt(nil, -1))).Bytes(), wantErr: "invalid request: custom_runner[0]: expected a byte 0-255, got -1"},
		{name: "option element 256", frame: validMap().Set("options", atodtest.RawArray(atodtest.ByteInts("-u", false), withElem("-O", 2, msgp.AppendInt(nil, 256)))).Bytes(), wantErr: "invalid request: options[1][2]: expected a byte 0-255, got 256"},
		{name: "argument element str", frame: validMap().Set("arguments", atodtest.RawArray(withElem("", 0, msgp.AppendString(nil, "a")))).Bytes(), wantErr: "invalid request: arguments[0][0]: expected a byte 0-255, got str"},
		{name: "argument element nested array", frame: validMap().Set("arguments", atodtest.RawArray(atodtest.RawArray(atodtest.ByteInts("a", false)))).Bytes(), wantErr: "invalid request: arguments[0][0]: expected a byte 0-255, got array"},
		// options is an array of binaries, not one binary: a flat array of
		// integers is an array of non-binaries.
		{name: "options a flat array of bytes", frame: validMap().Set("options", atodtest.ByteInts("-u", false)).Bytes(), wantErr: "invalid request: options[0]: expected bin, str or array of bytes, got int"},
		// The language is a name, never a byte array.
		{name: "language a byte array", frame: validMap().Set("language", atodtest.ByteInts("python", false)).Bytes(), wantErr: "invalid request: language: expected str, got array"},
		{name: "duplicate key given as byte array", frame: append(validMap().Set("code", atodtest.ByteInts("x", false)), atodtest.Entry{Key: "code", Value: atodtest.ByteInts("y", false)}).Bytes(), wantErr: "invalid request: duplicate field: code"},
		{name: "duplicate key", frame: append(validMap(), atodtest.Entry{Key: "code", Value: msgp.AppendString(nil, "x")}).Bytes(), wantErr: "invalid request: duplicate field: code"},

		// Missing keys.
		{name: "missing language", frame: validMap().Del("language").Bytes(), wantErr: "invalid request: missing field: language"},
		{name: "missing code", frame: validMap().Del("code").Bytes(), wantErr: "invalid request: missing field: code"},
		{name: "missing input", frame: validMap().Del("input").Bytes(), wantErr: "invalid request: missing field: input"},
		{name: "missing options", frame: validMap().Del("options").Bytes(), wantErr: "invalid request: missing field: options"},
		{name: "missing arguments", frame: validMap().Del("arguments").Bytes(), wantErr: "invalid request: missing field: arguments"},
		{name: "empty map", frame: msgp.AppendMapHeader(nil, 0), wantErr: "invalid request: missing field: language"},

		// Framing and msgpack.
		{name: "extra data", frame: append(validMap().Bytes(), 0xc0), wantErr: "invalid request: found extra data"},
		{name: "two maps", frame: append(validMap().Bytes(), validMap().Bytes()...), wantErr: "invalid request: found extra data"},
		{name: "empty frame", frame: nil, wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "invalid type byte", frame: []byte{0xc1}, wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "invalid type byte in value", frame: validMap().Set("pad", []byte{0xc1}).Bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "invalid type byte as timeout", frame: validMap().Set("timeout", []byte{0xc1}).Bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "truncated map", frame: func() []byte { b := validMap().Bytes(); return b[:len(b)-1] }(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated str", frame: func() []byte { b := validMap().Del("timeout").Bytes(); return b[:len(b)-2] }(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "map header claims more entries", frame: append([]byte{0x87}, validMap().Bytes()[1:]...), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "array header claims 2^32-1 elements", frame: validMap().Del("options").Set("options", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}).Bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "byte array header claims 2^32-1 elements", frame: validMap().Del("code").Set("code", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 'a'}).Bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "option byte array header claims 2^32-1 elements", frame: validMap().Del("options").Set("options", atodtest.RawArray([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 'a'})).Bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated byte array", frame: validMap().Del("code").Set("code", []byte{0x93, 'a'}).Bytes(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "truncated element of a byte array", frame: func() []byte {
			b := validMap().Del("code").Set("code", []byte{0x92, 'a', 0xcd, 0x00, 0x01}).Bytes()
			return b[:len(b)-1]
		}(), wantErr: "invalid request: invalid msgpack: unexpected end of data"},
		{name: "invalid type byte in a byte array", frame: validMap().Set("code", []byte{0x92, 'a', 0xc1}).Bytes(), wantErr: "invalid request: invalid msgpack: invalid type byte 0xc1"},
		{name: "array", frame: atodtest.StrArray("python"), wantErr: "invalid request: not a msgpack map"},
		{name: "str", frame: msgp.AppendString(nil, "Kill"), wantErr: "invalid request: not a msgpack map"},
		{name: "nil", frame: msgp.AppendNil(nil), wantErr: "invalid request: not a msgpack map"},
		{name: "frame of MaxRequestSize+1", frame: validMap().Padded(t, MaxRequestSize+1), wantErr: "invalid request: request of 65537 bytes is larger than 65536 bytes"},

		// Check order: decoding and extra data, then missing keys, then
		// NUL bytes, then the timeout's range, then the language.
		{name: "extra data before missing field", frame: append(validMap().Del("code").Bytes(), 0x01), wantErr: "invalid request: found extra data"},
		{name: "type error before extra data", frame: append(validMap().Set("timeout", msgp.AppendString(nil, "1")).Bytes(), 0x01), wantErr: "invalid request: timeout: expected an integer, got str"},
		{name: "missing field before NUL", frame: validMap().Del("input").Set("options", atodtest.StrArray("\x00")).Bytes(), wantErr: "invalid request: missing field: input"},
		{name: "byte error before extra data", frame: append(validMap().Set("code", withElem("", 0, msgp.AppendInt(nil, 256))).Bytes(), 0x01), wantErr: "invalid request: code[0]: expected a byte 0-255, got 256"},
		{name: "byte error before missing field", frame: validMap().Del("input").Set("code", withElem("", 0, msgp.AppendInt(nil, 256))).Bytes(), wantErr: "invalid request: code[0]: expected a byte 0-255, got 256"},
		{name: "NUL before timeout", frame: validMap().Set("arguments", atodtest.StrArray("\x00")).Set("timeout", msgp.AppendInt(nil, 61)).Bytes(), wantErr: "invalid request: argument contains null byte"},
		{name: "timeout before language", frame: validMap().Set("language", msgp.AppendString(nil, "ZSH")).Set("timeout", msgp.AppendInt(nil, 0)).Bytes(), wantErr: "invalid request: timeout not in range 1-60: 0"},
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
	_, err := DecodeRequest(validMap().Bytes(), nil)
	if err == nil || err.Error() != "invalid request: no such language: python" {
		t.Errorf("DecodeRequest(known=nil) error = %v, want no such language", err)
	}
}

func TestDecodeRequestCopies(t *testing.T) {
	frame := validMap().Bytes()
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
	base := len(validMap().Set("deep", nil).Bytes())
	deep := bytes.Repeat([]byte{0x91}, MaxRequestSize-base-1) // fixarray of 1
	deep = append(deep, 0xc0)
	frame := validMap().Set("deep", deep).Bytes()
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
	full := validMap().Del("code").Set("code", nil)
	fill := MaxRequestSize - len(full.Bytes()) - len(huge)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"code", validMap().Del("code").Set("code", append(huge, 'a')).Bytes()},
		{"option", validMap().Del("options").Set("options", atodtest.RawArray(append(huge, 'a'))).Bytes()},
		{"frame full of elements", full.Set("code", append(huge, bytes.Repeat([]byte{'a'}, fill)...)).Bytes()},
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
