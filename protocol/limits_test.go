package protocol

import (
	"math"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// limitsMap encodes a limits map of the given keys and encoded values.
func limitsMap(kv ...any) []byte {
	b := msgp.AppendMapHeader(nil, uint32(len(kv)/2))
	for i := 0; i < len(kv); i += 2 {
		b = msgp.AppendString(b, kv[i].(string))
		b = append(b, kv[i+1].([]byte)...)
	}
	return b
}

func TestDecodeLimits(t *testing.T) {
	i := func(v int64) []byte { return msgp.AppendInt64(nil, v) }
	u := func(v uint64) []byte { return msgp.AppendUint64(nil, v) }
	f := func(v float64) []byte { return msgp.AppendFloat64(nil, v) }
	tests := []struct {
		name   string
		value  []byte
		want   *Limits
		reason string // "" for success; a trailing * matches any rest
	}{
		{"all", limitsMap("memory_mib", i(64), "pids", u(16), "cpus", f(0.5), "cpu_time", i(2), "output", i(100), "tmpfs_mib", i(4), "root_mib", i(8)),
			&Limits{MemoryMiB: 64, Pids: 16, CPUs: 0.5, CPUTime: 2, Output: 100, TmpfsMiB: 4, RootMiB: 8}, ""},
		{"float32 cpu time", limitsMap("cpu_time", msgp.AppendFloat32(nil, 0.25)), &Limits{CPUTime: 0.25}, ""},
		{"empty", limitsMap(), &Limits{}, ""},
		{"nil", msgp.AppendNil(nil), nil, ""},
		{"bin key", append(msgp.AppendBytes(msgp.AppendMapHeader(nil, 1), []byte("pids")), i(9)...), &Limits{Pids: 9}, ""},
		{"not a map", msgp.AppendInt(nil, 5), nil, "invalid request: limits: expected a map, got int"},
		{"unknown limit", limitsMap("memory", i(64)), nil, `invalid request: limits: unknown limit "memory" (the limits are [memory_mib pids cpus cpu_time output tmpfs_mib root_mib])`},
		{"duplicate", limitsMap("pids", i(8), "pids", i(9)), nil, "invalid request: duplicate field: limits.pids"},
		{"zero", limitsMap("pids", i(0)), nil, "invalid request: limits.pids: must be more than 0, got 0"},
		{"negative", limitsMap("memory_mib", i(-5)), nil, "invalid request: limits.memory_mib: must be more than 0, got -5"},
		{"negative float", limitsMap("cpus", f(-1)), nil, "invalid request: limits.cpus: must be more than 0, got -1"},
		{"NaN", limitsMap("cpu_time", f(math.NaN())), nil, "invalid request: limits.cpu_time: must be more than 0, got NaN"},
		{"infinite", limitsMap("cpu_time", f(math.Inf(1))), nil, "invalid request: limits.cpu_time: must be more than 0, got +Inf"},
		{"float for an integer", limitsMap("memory_mib", f(64)), nil, "invalid request: limits.memory_mib: expected an integer, got float"},
		{"string", limitsMap("cpus", msgp.AppendString(nil, "1")), nil, "invalid request: limits.cpus: expected a number, got str"},
		{"too large", limitsMap("output", u(math.MaxUint64)), nil, "invalid request: limits.output: 18446744073709551615 is out of range"},
		{"key not a string", append(msgp.AppendInt(msgp.AppendMapHeader(nil, 1), 1), i(9)...), nil, "invalid request: limits: expected a limit's name, got int"},
		{"truncated", limitsMap("pids", i(8))[:3], nil, "invalid request: invalid msgpack*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := validMap().Set("limits", tt.value).Bytes()
			got, err := DecodeV1Request(frame, knownLanguages)
			if tt.reason != "" {
				if err == nil || !matches(err.Error(), tt.reason) {
					t.Fatalf("error %v, want %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Limits == nil) != (tt.want == nil) || got.Limits != nil && *got.Limits != *tt.want {
				t.Errorf("limits %+v, want %+v", got.Limits, tt.want)
			}
			// The v0 contract's decoder skips the key, whatever it holds.
			if v0, err := DecodeRequest(frame, knownLanguages); err != nil || v0.Limits != nil {
				t.Errorf("v0: %+v, %v; want the key skipped", v0.Limits, err)
			}
		})
	}
	// A malformed limits map is no v0 request's concern either.
	frame := validMap().Set("limits", limitsMap("pids", msgp.AppendString(nil, "many"))).Bytes()
	if r, err := DecodeRequest(frame, knownLanguages); err != nil || r.Limits != nil {
		t.Errorf("v0 with malformed limits: %+v, %v; want them skipped", r.Limits, err)
	}
	// Nor is a v1 request's without them anything but what it was.
	if r, err := DecodeV1Request(validMap().Bytes(), knownLanguages); err != nil || r.Limits != nil {
		t.Errorf("v1 without limits: %+v, %v", r.Limits, err)
	}
}

func TestDecodeJSONLimits(t *testing.T) {
	base := `"language": "python", "code": "print(1)", "input": "", "options": [], "arguments": []`
	tests := []struct {
		name, limits string
		want         *Limits
		reason       string
	}{
		{"all", `{"memory_mib": 64, "pids": 16, "cpus": 0.5, "cpu_time": 2, "output": 100, "tmpfs_mib": 4, "root_mib": 8}`,
			&Limits{MemoryMiB: 64, Pids: 16, CPUs: 0.5, CPUTime: 2, Output: 100, TmpfsMiB: 4, RootMiB: 8}, ""},
		{"null", `null`, nil, ""},
		{"empty", `{}`, &Limits{}, ""},
		{"exponent for a number", `{"cpu_time": 1e-1}`, &Limits{CPUTime: 0.1}, ""},
		{"not an object", `[1]`, nil, "invalid request: limits: expected an object"},
		{"unknown", `{"ram": 1}`, nil, `invalid request: limits: unknown limit "ram"*`},
		{"duplicate", `{"pids": 8, "pids": 9}`, nil, "invalid request: duplicate field: limits.pids"},
		{"fraction for an integer", `{"pids": 8.5}`, nil, "invalid request: limits.pids: expected an integer, got 8.5"},
		{"exponent for an integer", `{"memory_mib": 1e2}`, nil, "invalid request: limits.memory_mib: expected an integer, got 1e2"},
		{"string", `{"cpus": "1"}`, nil, "invalid request: limits.cpus: expected a number, got 1"},
		{"object", `{"cpus": {}}`, nil, "invalid request: limits.cpus: expected a number, got an object"},
		{"zero", `{"output": 0}`, nil, "invalid request: limits.output: must be more than 0, got 0"},
		{"negative", `{"cpu_time": -0.5}`, nil, "invalid request: limits.cpu_time: must be more than 0, got -0.5"},
		{"out of range", `{"pids": 99999999999999999999}`, nil, "invalid request: limits.pids: 99999999999999999999 is out of range"},
		{"huge number", `{"cpus": 1e400}`, nil, "invalid request: limits.cpus: 1e400 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeJSONRequest([]byte("{"+base+`, "limits": `+tt.limits+"}"), func(id string) bool { return id == "python" })
			if tt.reason != "" {
				if err == nil || !matches(err.Error(), tt.reason) {
					t.Fatalf("error %v, want %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Limits == nil) != (tt.want == nil) || got.Limits != nil && *got.Limits != *tt.want {
				t.Errorf("limits %+v, want %+v", got.Limits, tt.want)
			}
		})
	}
}

// matches reports whether got is want, or starts with want's text before
// a trailing "*".
func matches(got, want string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p)
	}
	return got == want
}

// TestStdinMessages: the client's messages of an interactive run.
func TestStdinMessages(t *testing.T) {
	stdin := func(v []byte) []byte { return append(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "Stdin"), v...) }
	for _, c := range []struct {
		name string
		msg  []byte
		data string
		ok   bool
	}{
		{"bin", stdin(msgp.AppendBytes(nil, []byte("hi\n"))), "hi\n", true},
		{"str", stdin(msgp.AppendString(nil, "hi")), "hi", true},
		{"empty", stdin(msgp.AppendBytes(nil, nil)), "", true},
		{"int", stdin(msgp.AppendInt(nil, 5)), "", false},
		{"other key", append(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "Stdout"), msgp.AppendBytes(nil, []byte("x"))...), "", false},
		{"two keys", append(stdin(msgp.AppendBytes(nil, []byte("x")))[:0:0], msgp.AppendMapHeader(nil, 2)...), "", false},
		{"extra data", append(stdin(msgp.AppendBytes(nil, []byte("x"))), 0xc0), "", false},
		{"Kill", msgp.AppendString(nil, "Kill"), "", false},
	} {
		data, ok := StdinOf(c.msg)
		if ok != c.ok || string(data) != c.data {
			t.Errorf("%s: StdinOf = %q, %v; want %q, %v", c.name, data, ok, c.data, c.ok)
		}
	}
	cut := stdin(msgp.AppendBytes(nil, make([]byte, 70000)))[:100]            // a message cut short
	str8 := append(append(msgp.AppendMapHeader(nil, 1), 0xd9, 5), "Stdin"...) // the key as a str 8
	if !IsStdinStart(cut) || !IsStdinStart(str8) || IsStdinStart(msgp.AppendString(nil, "Kill")) {
		t.Error("IsStdinStart mistook a message")
	}
	if !IsCloseStdin(msgp.AppendString(nil, "CloseStdin")) || !IsCloseStdin(msgp.AppendBytes(nil, []byte("CloseStdin"))) ||
		IsCloseStdin(msgp.AppendString(nil, "Kill")) || IsKill(msgp.AppendString(nil, "CloseStdin")) ||
		IsCloseStdin(append(msgp.AppendString(nil, "CloseStdin"), 0xc0)) {
		t.Error("IsCloseStdin or IsKill mistook a message")
	}
}

// TestDecodeInteractive: "interactive" is a bool (nil: absent) of v1 and
// JSON requests; v0 skips it.
func TestDecodeInteractive(t *testing.T) {
	for _, c := range []struct {
		name   string
		value  []byte
		want   bool
		reason string
	}{
		{"true", msgp.AppendBool(nil, true), true, ""},
		{"false", msgp.AppendBool(nil, false), false, ""},
		{"nil", msgp.AppendNil(nil), false, ""},
		{"int", msgp.AppendInt(nil, 1), false, "invalid request: interactive: expected a bool, got int"},
		{"str", msgp.AppendString(nil, "yes"), false, "invalid request: interactive: expected a bool, got str"},
	} {
		frame := validMap().Set("interactive", c.value).Bytes()
		r, err := DecodeV1Request(frame, knownLanguages)
		switch {
		case c.reason != "" && (err == nil || err.Error() != c.reason):
			t.Errorf("%s: %v, want %q", c.name, err, c.reason)
		case c.reason == "" && (err != nil || r.Interactive != c.want):
			t.Errorf("%s: %v, %v; want %v", c.name, r.Interactive, err, c.want)
		}
		if v0, err := DecodeRequest(frame, knownLanguages); err != nil || v0.Interactive {
			t.Errorf("%s: v0 %v, %v; want the key skipped", c.name, v0.Interactive, err)
		}
	}
	base := `"language": "python", "code": "", "input": "", "options": [], "arguments": []`
	for body, want := range map[string]string{
		`"interactive": true`: "", `"interactive": false`: "", `"interactive": null`: "",
		`"interactive": "yes"`: "invalid request: interactive: expected a bool", `"interactive": 1`: "invalid request: interactive: expected a bool",
	} {
		r, err := DecodeJSONRequest([]byte("{"+base+", "+body+"}"), func(id string) bool { return id == "python" })
		switch {
		case want != "" && (err == nil || err.Error() != want):
			t.Errorf("JSON %s: %v, want %q", body, err, want)
		case want == "" && (err != nil || r.Interactive != (body == `"interactive": true`)):
			t.Errorf("JSON %s: %v, %v", body, r.Interactive, err)
		}
	}
}
