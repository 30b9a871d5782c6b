package protocol

import (
	"reflect"
	"slices"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// decodeAny decodes b into generic msgpack values (bin → []byte,
// str → string, ints → int64).
func decodeAny(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	m, rest, err := msgp.ReadMapStrIntfBytes(b, nil)
	if err != nil {
		tb.Fatalf("decoding %x: %v", b, err)
	}
	if len(rest) != 0 {
		tb.Fatalf("%d bytes left after the map", len(rest))
	}
	return m
}

func TestResultRoundTrip(t *testing.T) {
	want := Result{
		Stdout: []byte("out\x00"), Stderr: []byte("err"),
		StatusType: "killed", StatusValue: 9, TimedOut: true,
		Real: 1, Kernel: 2, User: 3, MaxMem: 4, Waits: 5, Preemptions: 6,
		MajorPageFaults: 7, MinorPageFaults: 8, InputOps: 9, OutputOps: 10,
	}
	b, err := want.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Result
	if rest, err := got.UnmarshalMsg(b); err != nil || len(rest) != 0 {
		t.Fatalf("UnmarshalMsg() rest %d, error %v", len(rest), err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}

	// The wire form: exactly the contract's keys, bin output, str status.
	m := decodeAny(t, b)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	wantKeys := []string{"input_ops", "kernel", "major_page_faults", "max_mem", "minor_page_faults",
		"output_ops", "preemptions", "real", "status_type", "status_value", "stderr", "stdout",
		"timed_out", "user", "waits"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("keys = %q, want %q", keys, wantKeys)
	}
	if _, ok := m["stdout"].([]byte); !ok {
		t.Errorf("stdout is %T, want bin", m["stdout"])
	}
	if _, ok := m["stderr"].([]byte); !ok {
		t.Errorf("stderr is %T, want bin", m["stderr"])
	}
	if m["status_type"] != "killed" || m["status_value"] != int64(9) || m["timed_out"] != true || m["output_ops"] != int64(10) {
		t.Errorf("values = %v", m)
	}
}

func TestResultEmptyOutputIsBin(t *testing.T) {
	b, err := (&Result{StatusType: "exited"}).MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeAny(t, b)
	if out, ok := m["stdout"].([]byte); !ok || len(out) != 0 {
		t.Errorf("empty stdout = %#v, want empty bin", m["stdout"])
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	want := Metadata{
		"python": {Name: "Python", Image: "python", Version: "3", URL: "https://python.org", SEClass: "lang-py"},
		"jelly":  {Name: "Jelly", Image: "jelly", URL: "https://github.com/DennisMitchell/jellylanguage", SBCS: true},
	}
	b, err := want.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Metadata
	if rest, err := got.UnmarshalMsg(b); err != nil || len(rest) != 0 {
		t.Fatalf("UnmarshalMsg() rest %d, error %v", len(rest), err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}

	m := decodeAny(t, b)
	py := m["python"].(map[string]any)
	if py["name"] != "Python" || py["image"] != "python" || py["version"] != "3" ||
		py["url"] != "https://python.org" || py["sbcs"] != false || py["se_class"] != "lang-py" {
		t.Errorf("python = %v", py)
	}
	jelly := m["jelly"].(map[string]any)
	if _, ok := jelly["se_class"]; ok {
		t.Errorf("empty se_class was sent: %v", jelly)
	}
	if len(jelly) != 5 || jelly["sbcs"] != true {
		t.Errorf("jelly = %v, want 5 keys with sbcs true", jelly)
	}
}

// TestDoneExtensionKeys: a Done without the extension keys of limits is the
// v1 contract's, byte for byte (each key in its order); with them set, it
// carries them too.
func TestDoneExtensionKeys(t *testing.T) {
	d := Done{StatusType: "exited", StatusValue: 3, TimedOut: false, StdoutTruncated: true, Real: 1, Kernel: 2, User: 3,
		MaxMem: 4, Waits: 5, Preemptions: 6, MajorPageFaults: 7, MinorPageFaults: 8, InputOps: 9, OutputOps: 10}
	want := msgp.AppendMapHeader(nil, 15)
	want = msgp.AppendString(msgp.AppendString(want, "status_type"), "exited")
	want = msgp.AppendInt(msgp.AppendString(want, "status_value"), 3)
	want = msgp.AppendBool(msgp.AppendString(want, "timed_out"), false)
	want = msgp.AppendBool(msgp.AppendString(want, "stdout_truncated"), true)
	want = msgp.AppendBool(msgp.AppendString(want, "stderr_truncated"), false)
	for i, k := range []string{"real", "kernel", "user", "max_mem", "waits", "preemptions", "major_page_faults", "minor_page_faults", "input_ops", "output_ops"} {
		want = msgp.AppendInt64(msgp.AppendString(want, k), int64(i+1))
	}
	got, err := d.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Done without extensions:\n%x\nwant\n%x", got, want)
	}

	yes, no := true, false
	d.OOMKilled, d.CPUTimeExceeded = &no, &yes
	got, err = d.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeAny(t, got)
	if len(m) != 17 || m["oom_killed"] != false || m["cpu_time_exceeded"] != true {
		t.Errorf("Done with extensions: %v", m)
	}
}
