package hello

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/runners"
)

// testCatalogue loads a catalogue of two languages, "ok" and "gone".
func testCatalogue(t testing.TB) *runners.Catalogue {
	t.Helper()
	const langs = `{
  "ok":   {"name": "OK Lang", "image": "here", "version": "1",
           "hello": {"code": "say hi", "input": "in\n", "options": ["-o", "x"], "arguments": ["a b"], "stdout": "Hello, World!\n"}},
  "gone": {"name": "Gone", "image": "absent", "version": "2",
           "hello": {"code": "x", "input": "", "options": [], "arguments": [], "stdout": "x"}}
}`
	cat, err := runners.LoadDir(atodtest.CatalogueDir(t, langs, "ok", "gone"))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// goneIsMissing makes "gone" unavailable, as a language whose image is
// missing is.
func goneIsMissing(l runners.Language) string {
	if l.ID == "gone" {
		return "image missing: atod rootfs pull " + l.Image
	}
	return ""
}

func TestJudge(t *testing.T) {
	h := runners.HelloCase{Stdout: "Hello, World!\n"}
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		res  protocol.Result
		want string
	}{
		{"pass", protocol.Result{StatusType: "exited", Stdout: []byte("Hello, World!\n")}, ""},
		{"wrong stdout", protocol.Result{StatusType: "exited", Stdout: []byte("Hello\n")},
			`stdout "Hello\n" want "Hello, World!\n"`},
		{"long stdout", protocol.Result{StatusType: "exited", Stdout: []byte(long)},
			`stdout "` + long[:maxQuoted] + `"... want "Hello, World!\n"`},
		{"no trailing newline", protocol.Result{StatusType: "exited", Stdout: []byte("Hello, World!")},
			`stdout "Hello, World!" want "Hello, World!\n"`},
		{"right stdout, exit 1", protocol.Result{StatusType: "exited", StatusValue: 1, Stdout: []byte("Hello, World!\n")}, "exit 1"},
		{"timed out", protocol.Result{StatusType: "killed", StatusValue: 9, TimedOut: true}, "timed out"},
		{"killed", protocol.Result{StatusType: "killed", StatusValue: 9}, "killed by signal 9"},
		{"core dumped", protocol.Result{StatusType: "core_dumped", StatusValue: 11}, "dumped core on signal 11"},
		{"unknown", protocol.Result{StatusType: "unknown", StatusValue: -1}, "status unknown/-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Judge(h, tt.res); got != tt.want {
				t.Errorf("Judge = %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeExecutor answers every request with result, or err, and records the
// requests. If cancel is set it calls it during the first run, as an
// interrupt would.
type fakeExecutor struct {
	result protocol.Result
	err    error
	cancel context.CancelFunc
	reqs   []protocol.Request
}

func (f *fakeExecutor) Execute(_ context.Context, req protocol.Request) (protocol.Result, error) {
	f.reqs = append(f.reqs, req)
	if f.cancel != nil {
		f.cancel()
	}
	return f.result, f.err
}

func TestVerify(t *testing.T) {
	ex := &fakeExecutor{result: protocol.Result{StatusType: "exited", Stdout: []byte("Hello, World!\n")}}
	v := Verifier{Executor: ex, Catalogue: testCatalogue(t), Timeout: 7, Unavailable: goneIsMissing}
	checks, err := v.Verify(t.Context(), []string{"ok", "nosuch", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Check{
		{ID: "ok", Ran: true},
		{ID: "nosuch", Fail: "unknown language"},
		{ID: "gone", Fail: "image missing: atod rootfs pull absent"},
	}
	if len(checks) != len(want) {
		t.Fatalf("checks = %+v", checks)
	}
	for i, c := range checks {
		if c.ID != want[i].ID || c.Fail != want[i].Fail || c.Ran != want[i].Ran {
			t.Errorf("check %d = %+v, want %+v", i, c, want[i])
		}
	}
	// Only the available language reached the executor, as its hello case.
	if len(ex.reqs) != 1 {
		t.Fatalf("requests = %+v", ex.reqs)
	}
	r := ex.reqs[0]
	if r.Language != "ok" || string(r.Code) != "say hi" || string(r.Input) != "in\n" || r.Timeout != 7 ||
		fmt.Sprintf("%q", r.Options) != `["-o" "x"]` || fmt.Sprintf("%q", r.Arguments) != `["a b"]` {
		t.Errorf("request = %+v", r)
	}
	if err := r.Validate(func(id string) bool { return id == "ok" }); err != nil {
		t.Errorf("the hello request is invalid: %v", err)
	}
	// Without Unavailable every language of the catalogue runs.
	v.Unavailable = nil
	if checks, err := v.Verify(t.Context(), []string{"gone"}); err != nil || len(checks) != 1 || !checks[0].Ran {
		t.Errorf("Verify without Unavailable = %+v, %v", checks, err)
	}
}

func TestVerifyKeepsStderrOfFailures(t *testing.T) {
	ex := &fakeExecutor{result: protocol.Result{StatusType: "exited", StatusValue: 2, Stderr: []byte("syntax error\n")}}
	v := Verifier{Executor: ex, Catalogue: testCatalogue(t), Timeout: 7}
	checks, err := v.Verify(t.Context(), []string{"ok"})
	if err != nil || len(checks) != 1 || checks[0].Fail != "exit 2" || string(checks[0].Stderr) != "syntax error\n" {
		t.Errorf("Verify = %+v, %v", checks, err)
	}

	v.Executor = &fakeExecutor{err: errors.New("running ok: creating job cgroup: permission denied")}
	checks, err = v.Verify(t.Context(), []string{"ok"})
	if err != nil || len(checks) != 1 || checks[0].Fail != "running ok: creating job cgroup: permission denied" || !checks[0].Ran {
		t.Errorf("Verify with a failing executor = %+v, %v", checks, err)
	}
}

func TestVerifyStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ex := &fakeExecutor{result: protocol.Result{StatusType: "killed", StatusValue: 9}, cancel: cancel}
	v := Verifier{Executor: ex, Catalogue: testCatalogue(t), Timeout: 7}
	checks, err := v.Verify(ctx, []string{"ok", "ok", "ok"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(ex.reqs) != 1 || len(checks) != 1 || checks[0].Fail != "interrupted" {
		t.Errorf("after an interrupt: %d runs, checks %+v", len(ex.reqs), checks)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []Check{
		{ID: "bash", Ran: true, Elapsed: 1234567 * time.Microsecond},
		{ID: "c_gcc", Ran: true, Elapsed: 80 * time.Millisecond, Fail: "exit 1"},
		{ID: "nosuchlang", Fail: "unknown language"},
		{ID: "zsh", Fail: "image unreadable: line one\nline two"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `ID          RESULT                                     TIME
bash        pass                                       1234 ms
c_gcc       fail: exit 1                               80 ms
nosuchlang  fail: unknown language                     -
zsh         fail: image unreadable: line one line two  -
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
