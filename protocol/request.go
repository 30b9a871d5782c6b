package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// MaxRequestSize is the largest request frame a client may send, in bytes.
// A frame of exactly this size is allowed.
const MaxRequestSize = 65536

// DefaultTimeout is the timeout of a request that names none, in seconds.
const DefaultTimeout = 60

// The inclusive range of a request's timeout, in seconds.
const (
	minTimeout = 1
	maxTimeout = 60
)

// Request is one decoded and validated execute request. Its byte slices are
// copies: they do not alias the frame it was decoded from.
type Request struct {
	Language    string // a configured language id (checked by DecodeRequest's known)
	Code, Input []byte
	Options     [][]byte // arguments for the interpreter or compiler; no NUL bytes
	Arguments   [][]byte // arguments for the program itself; no NUL bytes
	Timeout     int      // seconds, 1..60; DefaultTimeout when the key is absent

	// CustomRunner is the v1 "custom_runner" key: a Bash script to run
	// instead of the language's runner. It is nil when the key is absent (or
	// nil); the v0 endpoint ignores it, as it ignores every key it does not
	// know.
	CustomRunner []byte

	// Limits are the "limits" of a v1 or HTTP request (DecodeV1Request,
	// DecodeJSONRequest), an extension: nil when absent (or nil), and
	// always nil from DecodeRequest, the v0 contract's decoder, which skips
	// the key as it skips any other it does not know.
	Limits *Limits

	// Files are the "files" of a v1 or HTTP request, an extension: files
	// for the run's working directory, sorted by path, their paths
	// checked (relative, below it); nil when absent (or nil), and always
	// from DecodeRequest.
	Files []File

	// Interactive is the "interactive" key of a v1 request, an extension:
	// the run's stdin comes from the connection ({"Stdin": bin} messages,
	// then "CloseStdin"), after its input. False when absent (or nil), and
	// always from DecodeRequest.
	Interactive bool
}

// RequestError says why a request frame was refused. Its text, from Error,
// is what the client receives as the close reason (see CloseFor), so it
// never holds anything but facts about the request itself.
type RequestError struct {
	Reason string
}

func (e *RequestError) Error() string { return "invalid request: " + e.Reason }

func invalid(format string, args ...any) *RequestError {
	return &RequestError{Reason: fmt.Sprintf(format, args...)}
}

// DecodeRequest decodes and validates one request frame. known reports
// whether a language id is configured; it is called at most once, last, after
// every other check has passed (a nil known knows no language).
//
// The checks run in this order, and the first failure is returned:
// decoding the whole map (msgpack validity, the type of each known key,
// duplicate keys) and finding no bytes after it; then the presence of the
// required keys; then NUL bytes in options and arguments; then the timeout's
// range; then the language. Every failure is a *RequestError.
//
// Typing is lax, as the contract demands: a str, or an array of integers
// 0-255 (of any msgpack width), is accepted wherever a bin is (code, input,
// each entry of options and arguments, custom_runner); the language may be a
// str or a bin holding valid UTF-8; the timeout may be an integer of any
// msgpack width; and keys the server does not know (or that are not strings)
// are skipped.
//
// Cost: one pass over b, and a copy of every byte string kept; neither the
// time nor the memory grows past a bound linear in len(b), whatever counts
// array headers claim.
func DecodeRequest(b []byte, known func(language string) bool) (Request, error) {
	return decodeRequest(b, known, false)
}

// DecodeV1Request is DecodeRequest for the v1 endpoint: it also decodes the
// extensions of ours that a v1 request may carry ("limits", "files",
// "interactive"), checking each
// as it decodes it, with the other keys.
func DecodeV1Request(b []byte, known func(language string) bool) (Request, error) {
	return decodeRequest(b, known, true)
}

func decodeRequest(b []byte, known func(language string) bool, extensions bool) (Request, error) {
	// The server refuses larger frames before decoding (with its own close
	// code); checking again bounds the work, and the nesting depth msgp.Skip
	// recurses to, for any other caller.
	if len(b) > MaxRequestSize {
		return Request{}, invalid("request of %d bytes is larger than %d bytes", len(b), MaxRequestSize)
	}
	raw := rawRequest{extensions: extensions}
	if err := raw.decode(b); err != nil {
		return Request{}, err
	}
	return raw.validate(known)
}

// field is a key of the request map.
type field uint8

const (
	fieldLanguage field = iota
	fieldCode
	fieldInput
	fieldOptions
	fieldArguments
	fieldTimeout
	fieldCustomRunner
	fieldLimits      // an extension (rawRequest.extensions)
	fieldFiles       // an extension
	fieldInteractive // an extension
)

func (f field) String() string {
	switch f {
	case fieldLanguage:
		return "language"
	case fieldCode:
		return "code"
	case fieldInput:
		return "input"
	case fieldOptions:
		return "options"
	case fieldArguments:
		return "arguments"
	case fieldTimeout:
		return "timeout"
	case fieldCustomRunner:
		return "custom_runner"
	case fieldLimits:
		return "limits"
	case fieldFiles:
		return "files"
	case fieldInteractive:
		return "interactive"
	default:
		return "field(" + strconv.Itoa(int(f)) + ")"
	}
}

// fieldNamed returns the field a map key names.
func fieldNamed(key []byte) (field, bool) {
	switch string(key) { // no allocation: the compiler compares in place
	case "language":
		return fieldLanguage, true
	case "code":
		return fieldCode, true
	case "input":
		return fieldInput, true
	case "options":
		return fieldOptions, true
	case "arguments":
		return fieldArguments, true
	case "timeout":
		return fieldTimeout, true
	case "custom_runner":
		return fieldCustomRunner, true
	case "limits":
		return fieldLimits, true
	case "files":
		return fieldFiles, true
	case "interactive":
		return fieldInteractive, true
	default:
		return 0, false
	}
}

// rawRequest is a request map as decoded, before validation.
//
// The request decoder is written by hand with msgp's low-level byte API
// rather than generated: generated code cannot express the contract's lax
// typing (a str or an array of byte values wherever a bin; an integer of any
// width, signed or not, with out-of-range values reported as sent; a
// language as str or bin), nor its exact error texts, required keys, or the
// "found extra data" check.
type rawRequest struct {
	extensions   bool   // decode the extension fields, not skip them (v1)
	seen         uint16 // bit 1<<field set when the key was present
	language     []byte
	code, input  []byte
	options      [][]byte
	arguments    [][]byte
	timeout      rawInt
	customRunner []byte
	limits       *Limits
	files        []File
	interactive  bool
}

// rawInt is a msgpack integer as sent, of any width and sign.
type rawInt struct {
	neg bool   // the value is negative
	mag uint64 // the value if !neg; its two's complement int64 bits if neg
}

// String is the value in decimal, for error messages. It is computed only
// when asked for, so that reading the elements of a byte array allocates
// nothing.
func (v rawInt) String() string {
	if v.neg {
		return strconv.FormatInt(int64(v.mag), 10)
	}
	return strconv.FormatUint(v.mag, 10)
}

func (r *rawRequest) has(f field) bool { return r.seen&(1<<f) != 0 }

// decode decodes b, which must hold exactly one msgpack map.
func (r *rawRequest) decode(b []byte) error {
	switch t := msgp.NextType(b); t {
	case msgp.MapType:
	case msgp.InvalidType:
		_, err := msgp.Skip(b)
		return invalidMsgpack(err)
	default:
		return invalid("not a msgpack map")
	}
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return invalidMsgpack(err)
	}
	for range n {
		var key []byte
		switch msgp.NextType(b) {
		case msgp.StrType:
			key, b, err = msgp.ReadStringZC(b)
		case msgp.BinType:
			key, b, err = msgp.ReadBytesZC(b)
		default:
			// A key that is not a string names no field: skip the key
			// and its value like any other unknown key.
			b, err = msgp.Skip(b)
			if err == nil {
				b, err = msgp.Skip(b)
			}
			if err != nil {
				return invalidMsgpack(err)
			}
			continue
		}
		if err != nil {
			return invalidMsgpack(err)
		}
		f, ok := fieldNamed(key)
		if f >= fieldLimits && !r.extensions {
			ok = false // not the v0 contract's: a key like any other
		}
		if !ok {
			if b, err = msgp.Skip(b); err != nil {
				return invalidMsgpack(err)
			}
			continue
		}
		if r.has(f) {
			return invalid("duplicate field: %s", f)
		}
		r.seen |= 1 << f
		if b, err = r.decodeField(f, b); err != nil {
			return err
		}
	}
	if len(b) > 0 {
		return invalid("found extra data")
	}
	return nil
}

// decodeField decodes the value of field f from the start of b and returns
// the rest of b.
func (r *rawRequest) decodeField(f field, b []byte) (rest []byte, err error) {
	switch f {
	case fieldLanguage:
		r.language, b, err = readBinOrStr(b, "str", place{f, noIndex})
		if err == nil && !utf8.Valid(r.language) {
			err = invalid("language: not valid UTF-8")
		}
	case fieldCode:
		r.code, b, err = readBinary(b, place{f, noIndex})
	case fieldInput:
		r.input, b, err = readBinary(b, place{f, noIndex})
	case fieldOptions:
		r.options, b, err = readBinArray(b, f)
	case fieldArguments:
		r.arguments, b, err = readBinArray(b, f)
	case fieldTimeout:
		r.timeout, b, err = readInt(b, f)
	case fieldCustomRunner:
		if msgp.NextType(b) == msgp.NilType {
			// An optional key sent as nil is as good as absent.
			b, err = msgp.ReadNilBytes(b)
			if err != nil {
				err = invalidMsgpack(err)
			}
			break
		}
		r.customRunner, b, err = readBinary(b, place{f, noIndex})
	case fieldLimits:
		r.limits, b, err = readLimits(b)
	case fieldFiles:
		r.files, b, err = readFiles(b)
	case fieldInteractive:
		switch t := msgp.NextType(b); t {
		case msgp.NilType:
			b, err = msgp.ReadNilBytes(b)
		case msgp.BoolType:
			r.interactive, b, err = msgp.ReadBoolBytes(b)
		case msgp.InvalidType:
			_, err = msgp.Skip(b)
		default:
			return b, invalid("interactive: expected a bool, got %s", typeName(t))
		}
		if err != nil {
			err = invalidMsgpack(err)
		}
	}
	return b, err
}

// noIndex is the index of a value that is not an array element.
const noIndex = -1

// place names a value of the request in error messages: a field, or an
// element of a field's array.
type place struct {
	f field
	i int64 // the index in f's array, or noIndex
}

func (p place) String() string {
	if p.i == noIndex {
		return p.f.String()
	}
	return p.f.String() + "[" + strconv.FormatInt(p.i, 10) + "]"
}

// readBinary reads a binary the lax way: a bin, a str, or an array of
// integers 0-255 (how some msgpack clients encode bytes). It returns a copy
// of its bytes.
func readBinary(b []byte, at place) (v, rest []byte, err error) {
	if msgp.NextType(b) == msgp.ArrayType {
		return readByteArray(b, at)
	}
	return readBinOrStr(b, "bin, str or array of bytes", at)
}

// readBinOrStr reads a bin or a str and returns a copy of its bytes. A type
// error says what was wanted and where.
func readBinOrStr(b []byte, want string, at place) (v, rest []byte, err error) {
	switch t := msgp.NextType(b); t {
	case msgp.StrType:
		v, rest, err = msgp.ReadStringZC(b)
	case msgp.BinType:
		v, rest, err = msgp.ReadBytesZC(b)
	case msgp.InvalidType:
		_, err = msgp.Skip(b)
		return nil, b, invalidMsgpack(err)
	default:
		return nil, b, invalid("%s: expected %s, got %s", at, want, typeName(t))
	}
	if err != nil {
		return nil, b, invalidMsgpack(err)
	}
	// Clone keeps an empty value non-nil, so that "present but empty" and
	// "absent" stay distinct.
	return bytes.Clone(v), rest, nil
}

// readByteArray reads an array of integers 0-255 as the bytes they are. An
// element that is anything else is refused with its index: at[i].
func readByteArray(b []byte, at place) (v, rest []byte, err error) {
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return nil, b, invalidMsgpack(err)
	}
	// As in readBinArray, every element takes at least one byte: a header
	// claiming more elements than bytes remain reserves no more than that,
	// and its loop ends at the end of the data.
	v = make([]byte, 0, min(uint64(n), uint64(len(b))))
	for i := range n {
		var c byte
		if c, b, err = readByte(b, at, i); err != nil {
			return nil, b, err
		}
		v = append(v, c)
	}
	return v, b, nil
}

// readByte reads element i of the byte array at: an integer 0-255, of any
// msgpack width and sign.
func readByte(b []byte, at place, i uint32) (c byte, rest []byte, err error) {
	var got string
	switch t := msgp.NextType(b); t {
	case msgp.IntType, msgp.UintType:
		var v rawInt
		if v, rest, err = readIntOf(b, t); err != nil {
			return 0, b, err
		}
		if !v.neg && v.mag <= math.MaxUint8 {
			return byte(v.mag), rest, nil
		}
		got = v.String()
	case msgp.InvalidType:
		_, err = msgp.Skip(b)
		return 0, b, invalidMsgpack(err)
	default:
		got = typeName(t)
	}
	return 0, b, invalid("%s[%d]: expected a byte 0-255, got %s", at, i, got)
}

// readBinArray reads an array of binaries (see readBinary).
func readBinArray(b []byte, f field) (v [][]byte, rest []byte, err error) {
	switch t := msgp.NextType(b); t {
	case msgp.ArrayType:
	case msgp.InvalidType:
		_, err = msgp.Skip(b)
		return nil, b, invalidMsgpack(err)
	default:
		return nil, b, invalid("%s: expected an array, got %s", f, typeName(t))
	}
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return nil, b, invalidMsgpack(err)
	}
	// The header's count is the client's word: every element takes at least
	// one byte, so never reserve room for more elements than bytes remain.
	v = make([][]byte, 0, min(uint64(n), uint64(len(b))))
	for i := range n {
		var e []byte
		e, b, err = readBinary(b, place{f, int64(i)})
		if err != nil {
			return nil, b, err
		}
		v = append(v, e)
	}
	return v, b, nil
}

// readInt reads an integer of any msgpack width and sign.
func readInt(b []byte, f field) (v rawInt, rest []byte, err error) {
	switch t := msgp.NextType(b); t {
	case msgp.IntType, msgp.UintType:
		return readIntOf(b, t)
	case msgp.InvalidType:
		_, err = msgp.Skip(b)
		return rawInt{}, b, invalidMsgpack(err)
	default:
		return rawInt{}, b, invalid("%s: expected an integer, got %s", f, typeName(t))
	}
}

// readIntOf reads the integer of msgpack type t, IntType or UintType, at the
// start of b.
func readIntOf(b []byte, t msgp.Type) (v rawInt, rest []byte, err error) {
	if t == msgp.IntType {
		var i int64
		i, rest, err = msgp.ReadInt64Bytes(b)
		v = rawInt{neg: i < 0, mag: uint64(i)}
	} else {
		v.mag, rest, err = msgp.ReadUint64Bytes(b)
	}
	if err != nil {
		return rawInt{}, b, invalidMsgpack(err)
	}
	return v, rest, nil
}

// validate checks the decoded map against the schema and builds the Request.
// The timeout is range-checked here, on its wire value, so that a reason
// quotes any out-of-range integer exactly as sent (even one no int holds).
func (r *rawRequest) validate(known func(string) bool) (Request, error) {
	for _, f := range [...]field{fieldLanguage, fieldCode, fieldInput, fieldOptions, fieldArguments} {
		if !r.has(f) {
			return Request{}, invalid("missing field: %s", f)
		}
	}
	req := Request{
		Language:     string(r.language),
		Code:         r.code,
		Input:        r.input,
		Options:      r.options,
		Arguments:    r.arguments,
		Timeout:      DefaultTimeout,
		CustomRunner: r.customRunner,
		Limits:       r.limits,
		Files:        r.files,
		Interactive:  r.interactive,
	}
	if err := checkNULs(req); err != nil {
		return Request{}, err
	}
	if r.has(fieldTimeout) {
		t := r.timeout
		if t.neg || t.mag < minTimeout || t.mag > maxTimeout {
			return Request{}, invalid("timeout not in range %d-%d: %s", minTimeout, maxTimeout, t)
		}
		req.Timeout = int(t.mag)
	}
	if err := checkLanguage(req, known); err != nil {
		return Request{}, err
	}
	return req, nil
}

// Validate checks a Request built by other means than DecodeRequest (a
// command line, say) by the rules DecodeRequest applies after decoding, in
// the same order: NUL bytes in options and arguments, the timeout's range,
// the language. A failure is a *RequestError.
func (r Request) Validate(known func(language string) bool) error {
	if err := checkNULs(r); err != nil {
		return err
	}
	if r.Timeout < minTimeout || r.Timeout > maxTimeout {
		return invalid("timeout not in range %d-%d: %d", minTimeout, maxTimeout, r.Timeout)
	}
	return checkLanguage(r, known)
}

// checkNULs refuses NUL bytes in options and arguments: inside the sandbox
// each entry is written followed by a NUL, so one inside would split it. The
// reason is the same for an option as for an argument, as the contract
// requires (the service words both so).
func checkNULs(r Request) error {
	for _, s := range [...][][]byte{r.Options, r.Arguments} {
		for _, e := range s {
			if bytes.IndexByte(e, 0) >= 0 {
				return invalid("argument contains null byte")
			}
		}
	}
	return nil
}

func checkLanguage(r Request, known func(string) bool) error {
	if known == nil || !known(r.Language) {
		return invalid("no such language: %s", r.Language)
	}
	return nil
}

// invalidMsgpack turns an error of msgp's byte API into a RequestError.
func invalidMsgpack(err error) *RequestError {
	var prefix msgp.InvalidPrefixError
	switch {
	case errors.Is(err, msgp.ErrShortBytes):
		return invalid("invalid msgpack: unexpected end of data")
	case errors.Is(err, msgp.ErrRecursion):
		return invalid("invalid msgpack: nested too deeply")
	case errors.As(err, &prefix):
		return invalid("invalid msgpack: invalid type byte 0x%02x", byte(prefix))
	case err == nil:
		// Unreachable: callers pass the error of a failed read. Refuse
		// rather than accept a frame whose failure went unexplained.
		return invalid("invalid msgpack")
	default:
		return invalid("invalid msgpack: %v", err)
	}
}

// typeName names a msgpack type the way error messages do.
func typeName(t msgp.Type) string {
	switch t {
	case msgp.StrType:
		return "str"
	case msgp.BinType:
		return "bin"
	case msgp.MapType:
		return "map"
	case msgp.ArrayType:
		return "array"
	case msgp.Float32Type, msgp.Float64Type:
		return "float"
	case msgp.BoolType:
		return "bool"
	case msgp.IntType, msgp.UintType:
		return "int"
	case msgp.NilType:
		return "nil"
	case msgp.ExtensionType, msgp.TimeType, msgp.Complex64Type, msgp.Complex128Type:
		return "ext"
	default:
		return "invalid"
	}
}
