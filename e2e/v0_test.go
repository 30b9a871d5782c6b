package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/timescale"
)

// paddedRequest is a valid bash request padded with an unknown key to
// exactly size bytes.
func paddedRequest(t testing.TB, size int) []byte {
	t.Helper()
	base := []field{
		{"language", "bash"}, {"code", []byte("echo padded")}, {"input", []byte{}},
		{"options", []string{}}, {"arguments", []string{}}, {"timeout", 10},
	}
	probe := encodeMap(t, append(base, field{"padding", []byte{}})...) // 2-byte bin 8 header
	for _, header := range []int{2, 3, 5} {                            // bin 8, bin 16, bin 32
		pad := size - (len(probe) - 2) - header
		if pad < 0 {
			continue
		}
		frame := encodeMap(t, append(base, field{"padding", bytes.Repeat([]byte{'x'}, pad)})...)
		if len(frame) == size {
			return frame
		}
	}
	t.Fatalf("cannot pad a request to exactly %d bytes", size)
	return nil
}

func TestCloseCodes(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	valid := func(extra ...field) []byte {
		return encodeMap(t, append([]field{
			{"language", "bash"}, {"code", []byte("echo hi")}, {"input", []byte{}},
			{"options", []string{}}, {"arguments", []string{}},
		}, extra...)...)
	}
	without := func(key string) []byte {
		var fs []field
		for _, f := range []field{
			{"language", "bash"}, {"code", []byte("echo hi")}, {"input", []byte{}},
			{"options", []string{}}, {"arguments", []string{}},
		} {
			if f.key != key {
				fs = append(fs, f)
			}
		}
		return encodeMap(t, fs...)
	}
	withTimeout := func(v any) []byte { return valid(field{"timeout", v}) }
	tests := []struct {
		name   string
		typ    websocket.MessageType
		frame  []byte
		code   websocket.StatusCode
		reason string // exact, or a prefix when it ends in "*"
	}{
		{"exactly 65536 bytes", websocket.MessageBinary, paddedRequest(t, 65536), 1000, ""},
		{"65537 bytes", websocket.MessageBinary, paddedRequest(t, 65537), 1009, "received message of size 65537, greater than size limit 65536"},
		{"one megabyte", websocket.MessageBinary, bytes.Repeat([]byte{0xc0}, 1<<20), 1009, "received message of size 1048576, greater than size limit 65536"},
		{"text frame", websocket.MessageText, []byte(`{"language":"bash"}`), 1003, "expected a binary message"},
		{"extra data after the map", websocket.MessageBinary, append(valid(), 0xc0), 1008, "invalid request: found extra data"},
		{"invalid msgpack", websocket.MessageBinary, []byte{0xc1, 0x00}, 1008, "invalid request: *"},
		{"not a map", websocket.MessageBinary, []byte{0x93, 1, 2, 3}, 1008, "invalid request: *"},
		{"truncated map", websocket.MessageBinary, valid()[:20], 1008, "invalid request: *"},
		{"empty frame", websocket.MessageBinary, []byte{}, 1008, "invalid request: *"},
		{"NUL in an option", websocket.MessageBinary, encodeMap(t, field{"language", "bash"}, field{"code", []byte("")}, field{"input", []byte{}}, field{"options", []string{"-a\x00b"}}, field{"arguments", []string{}}), 1008, "invalid request: argument contains null byte"},
		{"NUL in an argument", websocket.MessageBinary, encodeMap(t, field{"language", "bash"}, field{"code", []byte("")}, field{"input", []byte{}}, field{"options", []string{}}, field{"arguments", []string{"x", "\x00"}}), 1008, "invalid request: argument contains null byte"},
		{"unknown language ZSH", websocket.MessageBinary, encodeMap(t, field{"language", "ZSH"}, field{"code", []byte("")}, field{"input", []byte{}}, field{"options", []string{}}, field{"arguments", []string{}}), 1008, "invalid request: no such language: ZSH"},
		{"timeout 0", websocket.MessageBinary, withTimeout(0), 1008, "invalid request: timeout not in range 1-60: 0"},
		{"timeout 61", websocket.MessageBinary, withTimeout(61), 1008, "invalid request: timeout not in range 1-60: 61"},
		{"timeout -4", websocket.MessageBinary, withTimeout(-4), 1008, "invalid request: timeout not in range 1-60: -4"},
		{"timeout \"60\"", websocket.MessageBinary, withTimeout("60"), 1008, "invalid request: *"},
		{"timeout 60.0", websocket.MessageBinary, withTimeout(60.0), 1008, "invalid request: *"},
		{"timeout nil", websocket.MessageBinary, withTimeout(nil), 1008, "invalid request: *"},
		{"timeout uint8 60", websocket.MessageBinary, withTimeout(uint8(60)), 1000, ""},
		{"timeout int64 30", websocket.MessageBinary, withTimeout(int64(30)), 1000, ""},
		{"timeout omitted", websocket.MessageBinary, valid(), 1000, ""},
		{"missing code", websocket.MessageBinary, without("code"), 1008, "invalid request: *"},
		{"missing language", websocket.MessageBinary, without("language"), 1008, "invalid request: *"},
		{"strings for bins", websocket.MessageBinary, encodeMap(t, field{"language", "bash"}, field{"code", "echo hi"}, field{"input", ""}, field{"options", []string{}}, field{"arguments", []string{}}), 1000, ""},
		{"unknown keys ignored", websocket.MessageBinary, valid(field{"colour", "blue"}), 1000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := send(t, d, tt.typ, tt.frame)
			if out.code != tt.code {
				t.Fatalf("close code %d %q, want %d", out.code, out.reason, tt.code)
			}
			if p, ok := strings.CutSuffix(tt.reason, "*"); ok {
				if !strings.HasPrefix(out.reason, p) || len(out.reason) == len(p) {
					t.Errorf("reason %q, want %q followed by an explanation", out.reason, p)
				}
			} else if out.reason != tt.reason {
				t.Errorf("reason %q, want %q", out.reason, tt.reason)
			}
			if tt.code != 1000 {
				if out.result != nil {
					t.Errorf("a refused request got a result")
				}
				if out.elapsed > timescale.D(100*time.Millisecond) {
					t.Errorf("refusal took %v", out.elapsed)
				}
			} else if out.result == nil || out.result.StatusType != "exited" {
				t.Errorf("result %+v", out.result)
			}
		})
	}
	assertNoLeftovers(t, d)
}

func TestHelloWorldOfEveryLanguage(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	for _, l := range catalogueLanguages(t) {
		t.Run(l.ID, func(t *testing.T) {
			h := l.Hello
			r := execute(t, d, job{language: l.ID, code: h.Code, input: h.Input, options: h.Options, arguments: h.Arguments, timeout: scaledTimeout(30)})
			if string(r.Stdout) != h.Stdout || status(r) != "exited/0" {
				t.Errorf("%s: %s stdout %q (want %q) stderr %q", l.ID, status(r), r.Stdout, h.Stdout, r.Stderr)
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	tests := []struct {
		name string
		job  job
		want string
	}{
		{"exit 7", job{language: "bash", code: "exit 7"}, "exited/7"},
		{"kill -TERM $$", job{language: "bash", code: "kill -TERM $$"}, "killed/15"},
		// Core dumps are disabled in the sandbox (RLIMIT_CORE 0), so the
		// kernel reports the signal without the core flag: killed/11.
		{"segfaulting C", job{language: "c_gcc", code: "int main(void) { volatile int *p = 0; return *p; }"}, "killed/11"},
		{"zsh exit", job{language: "zsh", code: "exit 3"}, "exited/3"},
		{"python exception", job{language: "python", code: "raise SystemExit(5)"}, "exited/5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.timeout = 30
			r := execute(t, d, tt.job)
			if got := status(r); got != tt.want || r.TimedOut {
				t.Errorf("status %s (timed out %v), want %s; stderr %q", got, r.TimedOut, tt.want, r.Stderr)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		r := execute(t, d, job{language: "bash", code: "sleep 5", timeout: 1})
		elapsed := time.Since(start)
		if !r.TimedOut || status(r) != "killed/9" {
			t.Errorf("result %s timed_out %v, want killed/9 timed out", status(r), r.TimedOut)
		}
		if elapsed < time.Second || elapsed > time.Second+timescale.D(500*time.Millisecond) {
			t.Errorf("a 1 s timeout answered after %v", elapsed)
		}
	})
	assertNoLeftovers(t, d)
}

func TestSeedCExample(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	r := execute(t, d, job{language: "c_gcc", code: `main(){printf("%d",a);}`, options: []string{"-Da=42"}, timeout: 60})
	if string(r.Stdout) != "42" {
		t.Errorf("stdout %q, stderr %q, status %s", r.Stdout, r.Stderr, status(r))
	}
}

// TestConcurrentConnectionsRunConcurrently: runs on two connections are in
// flight at once; each holds until the test has seen both.
func TestConcurrentConnectionsRunConcurrently(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	results := make(chan error, 2)
	for i := range 2 {
		go func() {
			r, err := executeErr(d, job{language: "bash", code: holdCode(fmt.Sprint("conn-", i)), timeout: 60})
			if err == nil && status(r) != "exited/0" {
				err = fmt.Errorf("status %s", status(r))
			}
			results <- err
		}()
	}
	for i := range 2 {
		awaitHold(t, d, fmt.Sprint("conn-", i))
	}
	for i := range 2 {
		release(t, d, fmt.Sprint("conn-", i))
	}
	for range 2 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

func TestStatisticsDescribeOneRun(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	busy := execute(t, d, job{language: "python", code: "x = 0\nfor i in range(3_000_000): x += i", timeout: scaledTimeout(30)})
	idle := execute(t, d, job{language: "bash", code: "true", timeout: scaledTimeout(30)})
	t.Logf("busy: real %d user %d kernel %d max_mem %d minflt %d", busy.Real, busy.User, busy.Kernel, busy.MaxMem, busy.MinorPageFaults)
	t.Logf("idle: real %d user %d kernel %d max_mem %d minflt %d", idle.Real, idle.User, idle.Kernel, idle.MaxMem, idle.MinorPageFaults)
	if busy.User < 50e6 || busy.Real < busy.User/2 || busy.MaxMem < 1000 || busy.MinorPageFaults == 0 {
		t.Errorf("busy run's statistics are implausible: %+v", busy)
	}
	if idle.User+idle.Kernel >= busy.User {
		t.Errorf("the idle run's CPU time %d ns includes the busy run's %d ns", idle.User+idle.Kernel, busy.User)
	}
}
