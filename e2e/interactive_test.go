package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
)

// Interactive input (docs/api.md, "Interactive input"): an extension of
// ours on the v1 websocket.

// stdinMessage is the client's {"Stdin": data}.
func stdinMessage(data []byte) []byte {
	return msgp.AppendBytes(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "Stdin"), data)
}

var closeStdin = msgp.AppendString(nil, "CloseStdin")

// awaitStdout reads frames until the run's stdout so far ends with want.
func awaitStdout(t *testing.T, c *v1Conn, got *[]byte, want string) {
	t.Helper()
	for !bytes.HasSuffix(*got, []byte(want)) {
		f, err := c.next()
		if err != nil || f.stream == "Done" {
			t.Fatalf("stdout %q, waiting for %q: %v %+v", *got, want, err, f.done)
		}
		if f.stream == "Stdout" {
			*got = append(*got, f.data...)
		}
	}
}

// TestV1Interactive: a program gets its stdin from the connection as the
// client sends it, after the request's input: a REPL answers each line
// before the next is sent; CloseStdin is its EOF.
func TestV1Interactive(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	c.send(job{language: "python", interactive: true, input: "first\n", timeout: scaledTimeout(30),
		code: "import sys\nfor line in sys.stdin:\n    print('echo', line.strip(), flush=True)\nprint('bye')\n"}.encode(t))
	var out []byte
	awaitStdout(t, c, &out, "echo first\n")
	for _, l := range []string{"second", "third"} {
		c.send(stdinMessage([]byte(l + "\n")))
		awaitStdout(t, c, &out, "echo "+l+"\n")
	}
	c.send(closeStdin)
	frames := c.untilDone()
	out = append(out, joined(frames, "Stdout")...)
	if string(out) != "echo first\necho second\necho third\nbye\n" || doneOf(frames).StatusType != "exited" {
		t.Errorf("the REPL: %q, %+v", out, doneOf(frames))
	}

	// Stdin and CloseStdin that cross their run's Done on the wire are
	// dropped, as a Kill that does: the next request is served.
	c.send(stdinMessage([]byte("late\n")))
	c.send(closeStdin)
	frames = c.run(job{language: "bash", code: "echo next", timeout: scaledTimeout(30)})
	if string(joined(frames, "Stdout")) != "next\n" {
		t.Errorf("a run after a stray Stdin and CloseStdin: %q", joined(frames, "Stdout"))
	}

	// EOF at once, read late: the program gets its input, then the end.
	c2 := dialV1(t, d)
	c2.send(job{language: "bash", interactive: true, input: "in\n", timeout: scaledTimeout(30), code: "sleep 1; cat; echo end"}.encode(t))
	c2.send(stdinMessage([]byte("more\n")))
	c2.send(closeStdin)
	if out := string(joined(c2.untilDone(), "Stdout")); out != "in\nmore\nend\n" {
		t.Errorf("stdin ended before the program read it: %q", out)
	}

	// A run that is not interactive drops Stdin messages, as today.
	c3 := dialV1(t, d)
	c3.send(job{language: "bash", timeout: scaledTimeout(30), input: "file\n", code: "sleep 1; cat"}.encode(t))
	c3.send(stdinMessage([]byte("dropped\n")))
	if out := string(joined(c3.untilDone(), "Stdout")); out != "file\n" {
		t.Errorf("a run that is not interactive: %q", out)
	}
	assertNoLeftovers(t, d)
}

// TestV1InteractiveBounds: stdin the program does not read is held up to a
// bound, past which the run is killed and the connection closed with 1008;
// Kill is never stuck behind unread stdin; a client gone mid-input takes
// its run with it; the HTTP API refuses interactive requests.
func TestV1InteractiveBounds(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	chunk := bytes.Repeat([]byte("x"), 60000)

	t.Run("flood", func(t *testing.T) {
		c := dialV1(t, d)
		c.send(job{language: "bash", interactive: true, timeout: scaledTimeout(30), code: "echo started; sleep 30"}.encode(t))
		if f, err := c.next(); err != nil || f.stream != "Stdout" {
			t.Fatalf("%+v %v", f, err)
		}
		var err error
		for range 40 { // 2.4 MB: past the bound with the pipe's 64 KiB
			if err = c.conn.Write(c.ctx, websocket.MessageBinary, stdinMessage(chunk)); err != nil {
				break
			}
		}
		if _, err := c.next(); closeOf(err) != "1008 stdin: more than 1048576 bytes wait for the program to read them" {
			t.Errorf("a flood of stdin: %s", closeOf(err))
		}
	})
	t.Run("Kill behind unread stdin", func(t *testing.T) {
		c := dialV1(t, d)
		c.send(job{language: "bash", interactive: true, timeout: scaledTimeout(30), code: "echo started; sleep 30"}.encode(t))
		if f, err := c.next(); err != nil || f.stream != "Stdout" {
			t.Fatalf("%+v %v", f, err)
		}
		for range 12 {
			c.send(stdinMessage(chunk))
		}
		start := time.Now()
		c.kill()
		frames := c.untilDone()
		if done := doneOf(frames); done.StatusType != "killed" || time.Since(start) > timescale.D(5*time.Second) {
			t.Errorf("Kill after 720 kB of unread stdin: %+v after %v", done, time.Since(start))
		}
	})
	t.Run("client gone mid-input", func(t *testing.T) {
		c := dialV1(t, d)
		c.send(job{language: "bash", interactive: true, timeout: scaledTimeout(30), code: "echo started; cat > /dev/null"}.encode(t))
		if f, err := c.next(); err != nil || f.stream != "Stdout" {
			t.Fatalf("%+v %v", f, err)
		}
		c.send(stdinMessage(chunk))
		c.conn.CloseNow()
		assertNoLeftovers(t, d)
	})
	t.Run("a Stdin message too big", func(t *testing.T) {
		c := dialV1(t, d)
		c.send(job{language: "bash", interactive: true, timeout: scaledTimeout(30), code: "echo started; cat > /dev/null"}.encode(t))
		if f, err := c.next(); err != nil || f.stream != "Stdout" {
			t.Fatalf("%+v %v", f, err)
		}
		c.send(stdinMessage(bytes.Repeat([]byte("y"), 70000)))
		if _, err := c.next(); closeOf(err) != "1009 stdin: a Stdin message may be at most 65536 bytes" {
			t.Errorf("a Stdin message of 70000 bytes: %s", closeOf(err))
		}
	})
	t.Run("HTTP", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timescale.D(30*time.Second))
		defer cancel()
		body := `{"language": "bash", "code": "cat", "input": "", "options": [], "arguments": [], "interactive": true}`
		resp, b, err := testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, "application/json", "", []byte(body))
		if err != nil || resp.StatusCode != 400 || !strings.Contains(string(b), "invalid request: interactive: the HTTP API has no stdin messages; use the v1 websocket") {
			t.Errorf("HTTP interactive: %v %s", err, b)
		}
	})
	assertNoLeftovers(t, d)
}
