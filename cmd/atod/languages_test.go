package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/runners"
)

// testCatalogue loads a catalogue of three languages: "ok" in the image
// "here", "gone" in "absent" and "sick" in "broken".
func testCatalogue(t testing.TB) *runners.Catalogue {
	t.Helper()
	dir := t.TempDir()
	const langs = `{
  "ok":   {"name": "OK Lang", "image": "here", "version": "1",
           "hello": {"code": "say hi", "input": "in\n", "options": ["-o", "x"], "arguments": ["a b"], "stdout": "Hello, World!\n"}},
  "gone": {"name": "Gone", "image": "absent", "version": "2",
           "hello": {"code": "x", "input": "", "options": [], "arguments": [], "stdout": "x"}},
  "sick": {"name": "Sick", "image": "broken", "version": "3",
           "hello": {"code": "x", "input": "", "options": [], "arguments": [], "stdout": "x"}}
}`
	if err := os.WriteFile(filepath.Join(dir, "languages.json"), []byte(langs), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ok", "gone", "sick"} {
		if err := os.WriteFile(filepath.Join(dir, "scripts", id), []byte("exec true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := runners.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// fakeStore holds the image "here"; "broken" fails as a damaged image does
// and every other name is missing.
type fakeStore struct{}

func (fakeStore) Lookup(name string) (rootfs.Image, error) {
	switch name {
	case "here":
		return rootfs.Image{Name: name, Path: "/nonexistent/here/rootfs"}, nil
	case "broken":
		return rootfs.Image{}, errors.New("decoding image.json: unexpected end of JSON input;\nrebuild the image")
	default:
		return rootfs.Image{}, fmt.Errorf("looking up image %q: %w", name, rootfs.ErrNotFound)
	}
}

func TestWriteLanguages(t *testing.T) {
	avail := availabilities(testCatalogue(t), fakeStore{})

	var b bytes.Buffer
	if err := writeLanguages(&b, avail, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[0] != "ID" || strings.Join(strings.Fields(lines[1]), " ") != "ok OK Lang 1 here" {
		t.Errorf("runnable languages:\n%s", b.String())
	}

	b.Reset()
	if err := writeLanguages(&b, avail, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "STATUS") {
		t.Fatalf("--all: want a header and 3 rows:\n%s", out)
	}
	for _, want := range []string{
		"gone  Gone     2        absent  image missing: " + rootfs.FetchHint("absent"),
		"ok    OK Lang  1        here    runnable",
		"sick  Sick     3        broken  image unreadable: decoding image.json: unexpected end of JSON input; rebuild the image",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("--all lacks the row %q:\n%s", want, out)
		}
	}
}

func TestJudgeHello(t *testing.T) {
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
			if got := judgeHello(h, tt.res); got != tt.want {
				t.Errorf("judgeHello = %q, want %q", got, tt.want)
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

func TestVerifyHellos(t *testing.T) {
	cat := testCatalogue(t)
	ex := &fakeExecutor{result: protocol.Result{StatusType: "exited", Stdout: []byte("Hello, World!\n")}}
	checks, err := verifyHellos(t.Context(), ex, cat, fakeStore{}, []string{"ok", "nosuch", "gone", "sick"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []helloCheck{
		{id: "ok", ran: true},
		{id: "nosuch", fail: "unknown language"},
		{id: "gone", fail: "image missing: " + rootfs.FetchHint("absent")},
		{id: "sick", fail: "image unreadable: decoding image.json: unexpected end of JSON input;\nrebuild the image"},
	}
	if len(checks) != len(want) {
		t.Fatalf("checks = %+v", checks)
	}
	for i, c := range checks {
		c.elapsed = 0
		if c.id != want[i].id || c.fail != want[i].fail || c.ran != want[i].ran {
			t.Errorf("check %d = %+v, want %+v", i, c, want[i])
		}
	}
	// Only the runnable language reached the sandbox, as its hello case.
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
}

func TestVerifyHellosKeepsStderrOfFailures(t *testing.T) {
	ex := &fakeExecutor{result: protocol.Result{StatusType: "exited", StatusValue: 2, Stderr: []byte("syntax error\n")}}
	checks, err := verifyHellos(t.Context(), ex, testCatalogue(t), fakeStore{}, []string{"ok"}, 7)
	if err != nil || len(checks) != 1 || checks[0].fail != "exit 2" || string(checks[0].stderr) != "syntax error\n" {
		t.Errorf("verifyHellos = %+v, %v", checks, err)
	}

	ex = &fakeExecutor{err: errors.New("running ok: creating job cgroup: permission denied")}
	checks, err = verifyHellos(t.Context(), ex, testCatalogue(t), fakeStore{}, []string{"ok"}, 7)
	if err != nil || len(checks) != 1 || checks[0].fail != ex.err.Error() || !checks[0].ran {
		t.Errorf("verifyHellos with a failing executor = %+v, %v", checks, err)
	}
}

func TestVerifyHellosStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ex := &fakeExecutor{result: protocol.Result{StatusType: "killed", StatusValue: 9}, cancel: cancel}
	checks, err := verifyHellos(ctx, ex, testCatalogue(t), fakeStore{}, []string{"ok", "ok", "ok"}, 7)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(ex.reqs) != 1 || len(checks) != 1 || checks[0].fail != "interrupted" {
		t.Errorf("after an interrupt: %d runs, checks %+v", len(ex.reqs), checks)
	}
}

func TestWriteChecks(t *testing.T) {
	var b bytes.Buffer
	err := writeChecks(&b, []helloCheck{
		{id: "bash", ran: true, elapsed: 1234567 * time.Microsecond},
		{id: "c_gcc", ran: true, elapsed: 80 * time.Millisecond, fail: "exit 1"},
		{id: "nosuchlang", fail: "unknown language"},
		{id: "zsh", fail: "image unreadable: line one\nline two"},
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

func TestLanguagesRefusesStrayArguments(t *testing.T) {
	// "verify" must come first; after a flag it is a stray argument.
	err := languages(t.Context(), []string{"--all", "verify"}, "")
	var code exitCode
	if !errors.As(err, &code) || code != 2 {
		t.Errorf("languages --all verify = %v, want exit code 2", err)
	}
}
