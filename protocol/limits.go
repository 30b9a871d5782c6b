package protocol

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/tinylib/msgp/msgp"
)

//go:generate msgp

// Limits is a request's optional "limits" map, an extension of ours on the
// v1 websocket and the HTTP API (the v0 endpoint ignores the key): what
// the run may use, each at most the server's maximum, which GET
// /api/v1/limits serves in the same form. A zero field was not given.
type Limits struct {
	MemoryMiB int64   `msg:"memory_mib" json:"memory_mib,omitempty"` // memory, MiB
	Pids      int64   `msg:"pids" json:"pids,omitempty"`             // tasks at once
	CPUs      float64 `msg:"cpus" json:"cpus,omitempty"`             // CPU quota, in CPUs
	CPUTime   float64 `msg:"cpu_time" json:"cpu_time,omitempty"`     // seconds of CPU, every process together
	Output    int64   `msg:"output" json:"output,omitempty"`         // bytes kept of each output stream
	TmpfsMiB  int64   `msg:"tmpfs_mib" json:"tmpfs_mib,omitempty"`   // each writable tmpfs (/tmp, /ATO, /ATO/context), MiB
	RootMiB   int64   `msg:"root_mib" json:"root_mib,omitempty"`     // what the run may write elsewhere in its root, MiB
}

// limitNames are the keys of a limits map, in the order errors list them.
var limitNames = []string{"memory_mib", "pids", "cpus", "cpu_time", "output", "tmpfs_mib", "root_mib"}

// fractional reports whether limit name takes a fractional number (the
// others take integers).
func fractional(name string) bool { return name == "cpus" || name == "cpu_time" }

// set stores value v of limit name, which limitNames holds.
func (l *Limits) set(name string, v float64, i int64) {
	switch name {
	case "memory_mib":
		l.MemoryMiB = i
	case "pids":
		l.Pids = i
	case "cpus":
		l.CPUs = v
	case "cpu_time":
		l.CPUTime = v
	case "output":
		l.Output = i
	case "tmpfs_mib":
		l.TmpfsMiB = i
	case "root_mib":
		l.RootMiB = i
	}
}

// limitNamed checks a key of a limits map, and that it is not there twice.
func limitNamed(key []byte, seen map[string]bool) (string, error) {
	i := slices.Index(limitNames, string(key))
	if i < 0 {
		return "", invalid("limits: unknown limit %q (the limits are %v)", key, limitNames)
	}
	name := limitNames[i]
	if seen[name] {
		return "", invalid("duplicate field: limits.%s", name)
	}
	seen[name] = true
	return name, nil
}

// readLimits reads a limits map: nil (as good as absent), or a map of
// limit names to positive numbers, integers but for cpus and cpu_time.
func readLimits(b []byte) (l *Limits, rest []byte, err error) {
	n, isNil, b, err := readOptionalMap(b, "limits")
	if err != nil || isNil {
		return nil, b, err
	}
	l = &Limits{}
	seen := map[string]bool{}
	for range n {
		var key []byte
		switch t := msgp.NextType(b); t {
		case msgp.StrType:
			key, b, err = msgp.ReadStringZC(b)
		case msgp.BinType:
			key, b, err = msgp.ReadBytesZC(b)
		case msgp.InvalidType:
			_, err = msgp.Skip(b)
			return nil, b, invalidMsgpack(err)
		default:
			return nil, b, invalid("limits: expected a limit's name, got %s", typeName(t))
		}
		if err != nil {
			return nil, b, invalidMsgpack(err)
		}
		name, err := limitNamed(key, seen)
		if err != nil {
			return nil, b, err
		}
		var v float64
		var i int64
		switch t := msgp.NextType(b); {
		case t == msgp.IntType || t == msgp.UintType:
			var raw rawInt
			if raw, b, err = readIntOf(b, t); err != nil {
				return nil, b, err
			}
			if raw.neg || raw.mag == 0 {
				return nil, b, invalid("limits.%s: must be more than 0, got %s", name, raw)
			}
			if raw.mag > math.MaxInt64 {
				return nil, b, invalid("limits.%s: %s is out of range", name, raw)
			}
			i, v = int64(raw.mag), float64(raw.mag)
		case (t == msgp.Float64Type || t == msgp.Float32Type) && fractional(name):
			if t == msgp.Float32Type {
				var f float32
				f, b, err = msgp.ReadFloat32Bytes(b)
				v = float64(f)
			} else {
				v, b, err = msgp.ReadFloat64Bytes(b)
			}
			if err != nil {
				return nil, b, invalidMsgpack(err)
			}
			if !(v > 0) || math.IsInf(v, 0) { // NaN too
				return nil, b, invalid("limits.%s: must be more than 0, got %s", name, strconv.FormatFloat(v, 'g', -1, 64))
			}
		case t == msgp.InvalidType:
			_, err = msgp.Skip(b)
			return nil, b, invalidMsgpack(err)
		default:
			want := "an integer"
			if fractional(name) {
				want = "a number"
			}
			return nil, b, invalid("limits.%s: expected %s, got %s", name, want, typeName(t))
		}
		l.set(name, v, i)
	}
	return l, b, nil
}

// readOptionalMap reads the header of the map that extension key name
// holds (its entry count), or a nil (isNil: as good as absent).
func readOptionalMap(b []byte, name string) (n uint32, isNil bool, rest []byte, err error) {
	switch t := msgp.NextType(b); t {
	case msgp.NilType:
		if b, err = msgp.ReadNilBytes(b); err != nil {
			return 0, false, b, invalidMsgpack(err)
		}
		return 0, true, b, nil
	case msgp.MapType:
		if n, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
			return 0, false, b, invalidMsgpack(err)
		}
		return n, false, b, nil
	case msgp.InvalidType:
		_, err = msgp.Skip(b)
		return 0, false, b, invalidMsgpack(err)
	default:
		return 0, false, b, invalid("%s: expected a map, got %s", name, typeName(t))
	}
}

// jsonLimits decodes the JSON value of a request's limits (see readLimits):
// raw is one valid JSON value (the request's decoder checked it).
func jsonLimits(raw json.RawMessage) (*Limits, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, invalid("limits: expected an object")
	}
	l := &Limits{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("limits: %v", jsonProblem(err))
		}
		name, err := limitNamed([]byte(tok.(string)), seen)
		if err != nil {
			return nil, err
		}
		want := "an integer"
		if fractional(name) {
			want = "a number"
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, invalid("limits: %v", jsonProblem(err))
		}
		n, ok := tok.(json.Number)
		if !ok {
			if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
				return nil, invalid("limits.%s: expected %s, got %s", name, want, map[json.Delim]string{'{': "an object", '[': "an array"}[d])
			}
			return nil, invalid("limits.%s: expected %s, got %v", name, want, tok)
		}
		var v float64
		var i int64
		switch {
		case fractional(name):
			if v, err = n.Float64(); err != nil || math.IsInf(v, 0) {
				return nil, invalid("limits.%s: %s is out of range", name, n)
			}
		case bytes.ContainsAny([]byte(n), ".eE"):
			return nil, invalid("limits.%s: expected an integer, got %s", name, n)
		default:
			if i, err = n.Int64(); err != nil {
				return nil, invalid("limits.%s: %s is out of range", name, n)
			}
			v = float64(i)
		}
		if !(v > 0) {
			return nil, invalid("limits.%s: must be more than 0, got %s", name, n)
		}
		l.set(name, v, i)
	}
	return l, nil
}
