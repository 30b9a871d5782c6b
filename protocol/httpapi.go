package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

//go:generate msgp

// ExecuteResponse is the answer of POST /api/v1/execute, an extension of
// ours: the program's output, the fields of the v1 Done message, and facts
// about the run that the websocket APIs do not carry. It encodes as msgpack
// (generated) or JSON (MarshalJSON), with the same keys.
type ExecuteResponse struct {
	Stdout []byte `msg:"stdout" json:"-"`
	Stderr []byte `msg:"stderr" json:"-"`

	StatusType      string `msg:"status_type" json:"status_type"`
	StatusValue     int    `msg:"status_value" json:"status_value"`
	TimedOut        bool   `msg:"timed_out" json:"timed_out"`
	StdoutTruncated bool   `msg:"stdout_truncated" json:"stdout_truncated"`
	StderrTruncated bool   `msg:"stderr_truncated" json:"stderr_truncated"`

	Real            int64 `msg:"real" json:"real"`
	Kernel          int64 `msg:"kernel" json:"kernel"`
	User            int64 `msg:"user" json:"user"`
	MaxMem          int64 `msg:"max_mem" json:"max_mem"`
	Waits           int64 `msg:"waits" json:"waits"`
	Preemptions     int64 `msg:"preemptions" json:"preemptions"`
	MajorPageFaults int64 `msg:"major_page_faults" json:"major_page_faults"`
	MinorPageFaults int64 `msg:"minor_page_faults" json:"minor_page_faults"`
	InputOps        int64 `msg:"input_ops" json:"input_ops"`
	OutputOps       int64 `msg:"output_ops" json:"output_ops"`

	// OOMKilled says the memory limit killed a process of the run.
	OOMKilled bool `msg:"oom_killed" json:"oom_killed"`
	// MemoryPeak is the run's cgroup's peak memory charge in bytes (page
	// cache and tmpfs included, unlike max_mem).
	MemoryPeak int64 `msg:"memory_peak" json:"memory_peak"`
	// CPUThrottledPeriods and CPUThrottledTime (ns) say how often and how
	// long the CPU limit held the run back.
	CPUThrottledPeriods int64 `msg:"cpu_throttled_periods" json:"cpu_throttled_periods"`
	CPUThrottledTime    int64 `msg:"cpu_throttled_time" json:"cpu_throttled_time"`

	// CPUTimeExceeded, for a request that set limits only (nil: not
	// sent), says the run was killed for its CPU time.
	CPUTimeExceeded *bool `msg:"cpu_time_exceeded,omitempty" json:"cpu_time_exceeded,omitempty"`
}

// MarshalJSON encodes the response with the keys of its msgpack form; the
// output is a string when it is valid UTF-8 and {"base64": "..."} otherwise.
func (r ExecuteResponse) MarshalJSON() ([]byte, error) {
	type plain ExecuteResponse // without this method
	return json.Marshal(struct {
		Stdout Bytes `json:"stdout"`
		Stderr Bytes `json:"stderr"`
		plain
	}{r.Stdout, r.Stderr, plain(r)})
}

// Bytes is a byte string in JSON: a string (its UTF-8 bytes),
// {"base64": "..."} for arbitrary bytes, or an array of integers 0-255 (the
// lax form msgpack requests allow too). It marshals as a string when it is
// valid UTF-8, and as {"base64": "..."} otherwise.
type Bytes []byte

// MarshalJSON implements json.Marshaler.
func (b Bytes) MarshalJSON() ([]byte, error) {
	if utf8.Valid(b) {
		return json.Marshal(string(b))
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	v, err := bytesJSON(data, true)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// bytesJSON decodes data, valid JSON: a string, {"base64": "..."}, or, when
// arrays is set, an array of integers 0-255. A request's language takes no
// array, in JSON as in msgpack: it is a name, not bytes.
func bytesJSON(data []byte, arrays bool) ([]byte, error) {
	forms := `a string or {"base64": "..."}`
	if arrays {
		forms = `a string, {"base64": "..."} or an array of bytes`
	}
	data = bytes.TrimSpace(data)
	switch {
	case string(data) == "null":
		return nil, errors.New("expected " + forms + ", got null")
	case arrays && len(data) > 0 && data[0] == '[':
		return byteArrayJSON(data)
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return []byte(s), nil
	}
	var obj struct {
		Base64 *string `json:"base64"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil || obj.Base64 == nil {
		return nil, errors.New("expected " + forms)
	}
	raw, err := base64.StdEncoding.DecodeString(*obj.Base64)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return raw, nil
}

// byteError says that element i of a JSON array given as a byte string is
// not an integer 0-255; got is what it is instead (a number as written, or
// its JSON kind).
type byteError struct {
	i   int
	got string
}

func (e *byteError) Error() string {
	return fmt.Sprintf("element %d: expected a byte 0-255, got %s", e.i, e.got)
}

// byteArrayJSON decodes data, a JSON array already known to be valid JSON,
// whose elements must be integers 0-255. It stops at the first element that
// is not (a nested array or object is not read any further), and holds no
// more than the bytes decoded so far.
func byteArrayJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening bracket
		return nil, err
	}
	v := []byte{}
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		c, got := jsonByte(tok)
		if got != "" {
			return nil, &byteError{i: i, got: got}
		}
		v = append(v, c)
	}
	return v, nil
}

// jsonByte returns the byte a JSON token stands for, or what the token is
// when it is not an integer 0-255.
func jsonByte(tok json.Token) (c byte, got string) {
	switch tok := tok.(type) {
	case json.Number:
		// Like a timeout, a byte is a number literal without fraction or
		// exponent.
		if bytes.ContainsAny([]byte(tok), ".eE") {
			return 0, "float"
		}
		n, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil || n < 0 || n > math.MaxUint8 {
			return 0, string(tok)
		}
		return byte(n), ""
	case string:
		return 0, "string"
	case bool:
		return 0, "bool"
	case nil:
		return 0, "null"
	case json.Delim:
		if tok == '{' {
			return 0, "object"
		}
		return 0, "array"
	default:
		return 0, fmt.Sprintf("%v", tok)
	}
}

// DecodeJSONRequest decodes and validates a request given as JSON, by the
// rules DecodeRequest applies to msgpack: the same keys, each byte string a
// JSON string, {"base64": "..."} or an array of integers 0-255, the timeout
// an integer, and the same checks in the same order, with the same reasons.
// Every failure is a *RequestError.
func DecodeJSONRequest(b []byte, known func(language string) bool) (Request, error) {
	if len(b) > MaxRequestSize {
		return Request{}, invalid("request of %d bytes is larger than %d bytes", len(b), MaxRequestSize)
	}
	// A map tells absent keys from null ones; unknown keys are ignored, as
	// in msgpack requests.
	jr, err := decodeJSONObject(b)
	if err != nil {
		return Request{}, err
	}
	for _, key := range []string{"language", "code", "input", "options", "arguments"} {
		if _, ok := jr[key]; !ok {
			return Request{}, invalid("missing field: %s", key)
		}
	}
	req := Request{Timeout: DefaultTimeout}
	language, err := jsonBytesOf("language", jr["language"], false)
	if err != nil {
		return Request{}, err
	}
	if !utf8.Valid(language) {
		return Request{}, invalid("language: not valid UTF-8")
	}
	req.Language = string(language)
	if req.Code, err = jsonBytes("code", jr["code"]); err != nil {
		return Request{}, err
	}
	if req.Input, err = jsonBytes("input", jr["input"]); err != nil {
		return Request{}, err
	}
	if req.Options, err = jsonBytesList("options", jr["options"]); err != nil {
		return Request{}, err
	}
	if req.Arguments, err = jsonBytesList("arguments", jr["arguments"]); err != nil {
		return Request{}, err
	}
	if raw, ok := jr["custom_runner"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if req.CustomRunner, err = jsonBytes("custom_runner", raw); err != nil {
			return Request{}, err
		}
	}
	if raw, ok := jr["limits"]; ok {
		if req.Limits, err = jsonLimits(raw); err != nil {
			return Request{}, err
		}
	}
	if raw, ok := jr["files"]; ok {
		if req.Files, err = jsonFiles(raw); err != nil {
			return Request{}, err
		}
	}
	if raw, ok := jr["interactive"]; ok {
		switch string(bytes.TrimSpace(raw)) {
		case "true":
			req.Interactive = true
		case "false", "null":
		default:
			return Request{}, invalid("interactive: expected a bool")
		}
	}
	if err := checkNULs(req); err != nil {
		return Request{}, err
	}
	if rawTimeout, ok := jr["timeout"]; ok {
		raw := bytes.TrimSpace(rawTimeout)
		var n json.Number
		// A JSON string would decode into a json.Number too: only a number
		// literal is a timeout.
		if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) || json.Unmarshal(raw, &n) != nil {
			return Request{}, invalid("timeout: expected an integer")
		}
		t, err := n.Int64()
		if err != nil {
			if bytes.ContainsAny([]byte(n), ".eE") {
				return Request{}, invalid("timeout: expected an integer, got float")
			}
			// An integer no int64 holds is out of range, like in msgpack.
			return Request{}, invalid("timeout not in range %d-%d: %s", minTimeout, maxTimeout, n)
		}
		if t < minTimeout || t > maxTimeout {
			return Request{}, invalid("timeout not in range %d-%d: %d", minTimeout, maxTimeout, t)
		}
		req.Timeout = int(t)
	}
	if err := checkLanguage(req, known); err != nil {
		return Request{}, err
	}
	return req, nil
}

// jsonBytes decodes the byte string of key (see Bytes).
func jsonBytes(key string, raw json.RawMessage) ([]byte, error) {
	return jsonBytesOf(key, raw, true)
}

// jsonBytesOf decodes the byte string of key, raw being one valid JSON value
// of the request; arrays says whether an array of bytes is one.
func jsonBytesOf(key string, raw json.RawMessage, arrays bool) ([]byte, error) {
	b, err := bytesJSON(raw, arrays)
	if err != nil {
		// A bad element of a byte array is named by its index, as in
		// msgpack requests: key[i].
		if be, ok := errors.AsType[*byteError](err); ok {
			return nil, invalid("%s[%d]: expected a byte 0-255, got %s", key, be.i, be.got)
		}
		return nil, invalid("%s: %v", key, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func jsonBytesList(key string, raw json.RawMessage) ([][]byte, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, invalid("%s: expected an array", key)
	}
	out := make([][]byte, len(items))
	for i, item := range items {
		b, err := jsonBytes(fmt.Sprintf("%s[%d]", key, i), item)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// jsonProblem words a JSON syntax or type error without Go type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s: expected %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return "expected an object, got " + typ.Value
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of data"
	default:
		return err.Error()
	}
}

func jsonKind(k string) string {
	if k == "ptr" || k == "string" {
		return "a string"
	}
	return k
}

// ErrorResponse is the body of an HTTP API error: {"error": "..."}, the
// reason text the websocket API would close with.
type ErrorResponse struct {
	Error string `msg:"error" json:"error"`
}

// decodeJSONObject decodes b, one JSON object and nothing after it, into its
// members, refusing a repeated field of a request as msgpack requests do:
// which of two values counts would otherwise be the decoder's choice.
func decodeJSONObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid("invalid JSON: %v", jsonProblem(err))
	}
	if tok == nil {
		return nil, invalid("invalid JSON: expected an object, got null")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("invalid JSON: expected an object")
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("invalid JSON: %v", jsonProblem(err))
		}
		key := tok.(string) // the decoder allows only strings here
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, invalid("invalid JSON: %v", jsonProblem(err))
		}
		if _, dup := members[key]; dup {
			if _, known := fieldNamed([]byte(key)); known {
				return nil, invalid("duplicate field: %s", key)
			}
		}
		members[key] = value
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, invalid("invalid JSON: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("found extra data")
	}
	return members, nil
}
