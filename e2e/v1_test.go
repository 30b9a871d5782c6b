package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// v1Frame is one server message of a v1 run.
type v1Frame struct {
	at     time.Time
	stream string // "Stdout", "Stderr" or "Done"
	data   []byte
	done   protocol.Done
}

// v1Conn is a client connection to the v1 endpoint.
type v1Conn struct {
	t    testing.TB
	conn *websocket.Conn
	ctx  context.Context
}

func dialV1(t testing.TB, d *daemon) *v1Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(2*time.Minute))
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, d.url("/api/v1/ws/execute"), nil)
	if err != nil {
		t.Fatalf("dialing v1: %v", err)
	}
	conn.SetReadLimit(testclient.ReadLimit)
	t.Cleanup(func() { conn.CloseNow() })
	return &v1Conn{t: t, conn: conn, ctx: ctx}
}

func (c *v1Conn) send(frame []byte) {
	c.t.Helper()
	if err := c.conn.Write(c.ctx, websocket.MessageBinary, frame); err != nil {
		c.t.Fatalf("writing: %v", err)
	}
}

func (c *v1Conn) kill() { c.send(msgp.AppendString(nil, "Kill")) }

// next reads one server message; it fails no test.
func (c *v1Conn) next() (v1Frame, error) {
	f, err := testclient.ReadV1(c.ctx, c.conn)
	return v1Frame{at: f.At, stream: f.Stream, data: f.Data, done: f.Done}, err
}

// runV1 sends j and reads until Done.
func (c *v1Conn) run(j job) []v1Frame {
	c.t.Helper()
	c.send(j.encode(c.t))
	return c.untilDone()
}

func (c *v1Conn) untilDone() []v1Frame {
	c.t.Helper()
	var frames []v1Frame
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading: %v (after %d messages)", err, len(frames))
		}
		frames = append(frames, f)
		if f.stream == "Done" {
			return frames
		}
	}
}

func joined(frames []v1Frame, stream string) []byte {
	var b []byte
	for _, f := range frames {
		if f.stream == stream {
			b = append(b, f.data...)
		}
	}
	return b
}

func doneOf(frames []v1Frame) protocol.Done { return frames[len(frames)-1].done }

// frameSizes is the sizes of the output messages of a run's frames.
func frameSizes(frames []v1Frame) []int {
	var sizes []int
	for _, f := range frames {
		if f.stream != "Done" {
			sizes = append(sizes, len(f.data))
		}
	}
	return sizes
}

func TestV1Streaming(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	frames := c.run(job{language: "zsh", code: "repeat 3 { sleep 1; echo hi }", timeout: scaledTimeout(10)})
	if len(frames) != 4 {
		t.Fatalf("got %d messages, want 3 Stdout and Done", len(frames))
	}
	for i := 0; i < 3; i++ {
		if frames[i].stream != "Stdout" || string(frames[i].data) != "hi\n" {
			t.Errorf("message %d: %s %q", i, frames[i].stream, frames[i].data)
		}
		if i > 0 {
			// The lower bound is the program's own second, less the
			// scheduler's slack: it is not stretched.
			gap := frames[i].at.Sub(frames[i-1].at)
			if gap < 800*time.Millisecond || gap > time.Second+timescale.D(300*time.Millisecond) {
				t.Errorf("gap before message %d: %v, want about 1 s", i, gap)
			}
		}
	}
	if gap := frames[3].at.Sub(frames[2].at); gap > timescale.D(100*time.Millisecond) {
		t.Errorf("Done came %v after the last output", gap)
	}
	if dn := doneOf(frames); dn.StatusType != "exited" || dn.StatusValue != 0 {
		t.Errorf("Done %+v", dn)
	}
}

func TestV1Kill(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	c.send(job{language: "bash", code: "sleep 30 & sleep 30", timeout: 60}.encode(t))
	// Kill finds the program running, a process in the background.
	waitFor(t, "the run's two sleeps", func() bool { return len(runProcessesOf(t, d, "sleep\x0030\x00")) == 2 })
	killed := time.Now()
	c.kill()
	frames := c.untilDone()
	if e := time.Since(killed); e > timescale.D(100*time.Millisecond) {
		t.Errorf("Done came %v after Kill", e)
	}
	if dn := doneOf(frames); dn.StatusType != "killed" || dn.StatusValue != 9 || dn.TimedOut {
		t.Errorf("Done after Kill: %+v", dn)
	}
	assertNoLeftovers(t, d)
	// The connection carries on, also past a Kill that comes too late.
	c.kill()
	frames = c.run(job{language: "bash", code: "echo again", timeout: scaledTimeout(10)})
	if string(joined(frames, "Stdout")) != "again\n" {
		t.Errorf("run after Kill: %q", joined(frames, "Stdout"))
	}
}

func TestV1OutputBoundaries(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	// Output is sent as it is read, so message sizes follow the program's
	// writes unless output piles up in the pipe. A pipe write that fits
	// (a 64 KiB pipe) is never seen half done: one write of 48 KiB is all
	// in the pipe when the daemon reads, whatever the timing.
	frames := c.run(job{language: "bash", code: "dd if=/dev/zero bs=48k count=1 status=none", timeout: scaledTimeout(10)})
	if sizes := frameSizes(frames); !slices.Equal(sizes, []int{16384, 16384, 16384}) {
		t.Errorf("48 KiB written at once arrived in messages of %v bytes, want three of 16384", sizes)
	}
	// A flood written 16 KiB at a time leaves only whole 16 KiB pieces in
	// the pipe, so every read takes one: the capped 128 KiB arrives in
	// eight full messages, however fast the program or the daemon is.
	frames = c.run(job{language: "bash", code: "dd if=/dev/zero bs=16k count=64 status=none", timeout: scaledTimeout(10)})
	if sizes := frameSizes(frames); !slices.Equal(sizes, slices.Repeat([]int{16384}, 8)) || !doneOf(frames).StdoutTruncated {
		t.Errorf("a flood in 16 KiB writes arrived in messages of %v bytes (truncated %v), want eight of 16384",
			sizes, doneOf(frames).StdoutTruncated)
	}
	for _, stream := range []string{"Stdout", "Stderr"} {
		redirect := ""
		if stream == "Stderr" {
			redirect = " >&2"
		}
		frames = c.run(job{language: "bash", code: "head -c 1M /dev/zero" + redirect, timeout: scaledTimeout(10)})
		// head writes a few KiB at a time: how much piles up in the
		// pipe depends on the scheduling, so the sizes are only logged.
		t.Logf("%s: head -c 1M arrived in messages of %v bytes", stream, frameSizes(frames))
		got := len(joined(frames, stream))
		dn := doneOf(frames)
		truncated := dn.StdoutTruncated
		if stream == "Stderr" {
			truncated = dn.StderrTruncated
		}
		if got > 144<<10 || got < 128<<10 || !truncated {
			t.Errorf("%s: 1 MiB arrived as %d bytes, truncated %v", stream, got, truncated)
		}
		for _, f := range frames {
			if len(f.data) > protocol.MaxChunkSize {
				t.Errorf("a %s message of %d bytes", f.stream, len(f.data))
			}
		}
	}
	start := time.Now()
	frames = c.run(job{language: "bash", code: "yes", timeout: scaledTimeout(30)})
	if !doneOf(frames).StdoutTruncated || time.Since(start) > timescale.D(time.Second) {
		t.Errorf("yes: truncated %v, over after %v", doneOf(frames).StdoutTruncated, time.Since(start))
	}
}

func TestV1ConnectionReuse(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	busy := doneOf(c.run(job{language: "python", code: "x = 0\nfor i in range(2_000_000): x += i", timeout: scaledTimeout(30)}))
	idle := doneOf(c.run(job{language: "bash", code: "true", timeout: scaledTimeout(30)}))
	if busy.User < 50e6 || idle.User+idle.Kernel >= busy.User || idle.Real >= busy.Real {
		t.Errorf("statistics are not per run: busy %+v, idle %+v", busy, idle)
	}
	// A request sent while one runs is ignored.
	c.send(job{language: "bash", code: holdCode("first") + "; echo first", timeout: 60}.encode(t))
	awaitHold(t, d, "first")
	c.send(job{language: "bash", code: "echo second", timeout: scaledTimeout(10)}.encode(t))
	release(t, d, "first")
	frames := c.untilDone()
	if out := string(joined(frames, "Stdout")); out != "first\n" {
		t.Errorf("stdout %q, want only the first run's", out)
	}
	frames = c.run(job{language: "bash", code: "echo third", timeout: scaledTimeout(10)})
	if out := string(joined(frames, "Stdout")); out != "third\n" {
		t.Errorf("stdout after an ignored request: %q", out)
	}
	// A bad request ends the connection with its close code.
	c.send(encodeMap(t, field{"language", "ZSH"}, field{"code", ""}, field{"input", ""}, field{"options", []string{}}, field{"arguments", []string{}}))
	_, err := c.next()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 || ce.Reason != "invalid request: no such language: ZSH" {
		t.Errorf("bad request on a used connection: %v", err)
	}
}

// TestV1ClientVanishing: a run whose client goes away is killed, whether it
// waits or writes output (a line every 10 ms: "yes" reaches its output cap
// and ends by SIGPIPE within milliseconds, before it could be seen running).
func TestV1ClientVanishing(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	for _, code := range []string{"sleep 10", "while :; do echo tick; sleep 0.01; done"} {
		c := dialV1(t, d)
		c.send(job{language: "bash", code: code, timeout: scaledTimeout(30)}.encode(t))
		waitFor(t, "the run to start", func() bool { return len(d.runProcesses(t)) > 0 })
		c.conn.CloseNow()
		start := time.Now()
		waitFor(t, "the run to be killed", func() bool { return len(d.runProcesses(t)) == 0 })
		if e := time.Since(start); e > timescale.D(time.Second) {
			t.Errorf("%q outlived its client by %v", code, e)
		}
	}
	assertNoLeftovers(t, d)
}

// TestV1ConcurrentConnections: runs on two connections are in flight at
// once; each holds until the test has seen both.
func TestV1ConcurrentConnections(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	conns := []*v1Conn{dialV1(t, d), dialV1(t, d)}
	for i, c := range conns {
		c.send(job{language: "bash", code: holdCode(fmt.Sprint("conn-", i)) + "; echo done", timeout: 60}.encode(t))
	}
	for i := range conns {
		awaitHold(t, d, fmt.Sprint("conn-", i))
	}
	for i, c := range conns {
		release(t, d, fmt.Sprint("conn-", i))
		if out := string(joined(c.untilDone(), "Stdout")); out != "done\n" {
			t.Errorf("connection %d: stdout %q", i, out)
		}
	}
}

func TestV1SandboxBasics(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	frames := c.run(job{language: "python", timeout: scaledTimeout(20), code: `import socket, os
s = socket.create_server(("127.0.0.1", 0)); c = socket.create_connection(s.getsockname()); a, _ = s.accept()
c.sendall(b"lo up"); print(a.recv(5).decode())
open("/tmp/t", "w").write("x"); open("here", "w").write("y"); print(os.getcwd(), open("/tmp/t").read(), open("here").read())`})
	if out := string(joined(frames, "Stdout")); out != "lo up\n/ATO/context x y\n" {
		t.Errorf("stdout %q stderr %q", out, joined(frames, "Stderr"))
	}
}

// reverser is a custom runner that reverses its input with Bash builtins
// alone, so it runs in images that have no programs at all.
const reverser = `s=$(</ATO/input); r=; for ((i=${#s}-1; i>=0; i--)); do r+=${s:i:1}; done; printf '%s\n' "$r"`

func TestV1CustomRunner(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	frames := c.run(job{language: "python", input: "stressed", timeout: scaledTimeout(10), customRunner: reverser})
	if out := string(joined(frames, "Stdout")); out != "desserts\n" {
		t.Errorf("custom runner: %q %q", out, joined(frames, "Stderr"))
	}
	// v0 ignores custom_runner.
	r := execute(t, d, job{language: "python", code: "print('ran python')", timeout: scaledTimeout(10), customRunner: reverser})
	if string(r.Stdout) != "ran python\n" {
		t.Errorf("v0 with custom_runner: %q", r.Stdout)
	}
}

func TestV1CustomRunnerWithoutBashInTheImage(t *testing.T) {
	atodtest.NeedRoot(t)
	// An image with no files at all, imported as atod does it.
	images := newStoreDir(t)
	emptyImg, err := mutate.Config(empty.Image, v1.Config{Env: []string{"PATH=/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := t.TempDir()
	if _, err := layout.Write(layoutDir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: emptyImg})); err != nil {
		t.Fatal(err)
	}
	if out, err := rootfsCmd(t, images, "import", "--name", "empty", layoutDir); err != nil {
		t.Fatalf("atod rootfs import: %v\n%s", err, out)
	}
	tree, err := filepath.EvalSymlinks(filepath.Join(images, "names", "empty"))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(tree, "rootfs")
	catalogue := t.TempDir()
	os.MkdirAll(filepath.Join(catalogue, "scripts"), 0o755)
	os.WriteFile(filepath.Join(catalogue, "scripts", "reverse"), []byte(reverser+"\n"), 0o644)
	os.WriteFile(filepath.Join(catalogue, "languages.json"), []byte(`{"reverse": {"name": "Reverse", "image": "empty", "version": "1", "url": "https://example.invalid/", "sbcs": true,
		"hello": {"code": "unused", "input": "olleh", "options": [], "arguments": [], "stdout": "hello\n"}}}`), 0o644)
	d := startDaemon(t, daemonOptions{args: []string{"--images", images, "--runners", catalogue}})
	c := dialV1(t, d)
	frames := c.run(job{language: "reverse", input: "olleh", timeout: scaledTimeout(10)})
	if out := string(joined(frames, "Stdout")); out != "hello\n" {
		t.Errorf("runner in an image without bash: %q %q %+v", out, joined(frames, "Stderr"), doneOf(frames))
	}
	frames = c.run(job{language: "reverse", input: "abc", timeout: scaledTimeout(10), customRunner: reverser + "; echo custom"})
	if out := string(joined(frames, "Stdout")); out != "cba\ncustom\n" {
		t.Errorf("custom runner in an image without bash: %q %q", out, joined(frames, "Stderr"))
	}
	if _, err := os.Stat(filepath.Join(root, "bin")); err == nil {
		t.Fatalf("the image has a /bin")
	}
}

func TestV1KillWhileQueued(t *testing.T) {
	d := startDaemon(t, daemonOptions{args: []string{"--concurrency", "1"}})
	d.slots = 1
	busy := dialV1(t, d)
	busy.send(job{language: "bash", code: holdCode("busy"), timeout: 60}.encode(t))
	awaitHold(t, d, "busy")
	// The one slot is held until the test lets the busy run go, so the
	// request waits for it; and the daemon reads a connection's messages
	// in order, so the Kill comes to the request, queued.
	queued := dialV1(t, d)
	queued.send(job{language: "bash", code: "echo never", timeout: scaledTimeout(10)}.encode(t))
	killed := time.Now()
	queued.kill()
	frames := queued.untilDone()
	if dn := doneOf(frames); dn.StatusType != "killed" || dn.StatusValue != 9 || dn.TimedOut || len(frames) != 1 {
		t.Errorf("a run killed while queued: %+v (%d messages)", dn, len(frames))
	}
	if e := time.Since(killed); e > timescale.D(100*time.Millisecond) {
		t.Errorf("Done came %v after Kill", e)
	}
	release(t, d, "busy")
	busy.untilDone()
}

// drainedLines is a Python program that writes the lines 0 to 7, each only
// once its output pipe is empty (FIONREAD): once the daemon has read all
// that came before it.
const drainedLines = `import fcntl, os, struct, termios
for i in range(8):
    while struct.unpack("i", fcntl.ioctl(1, termios.FIONREAD, bytes(4)))[0]:
        os.sched_yield()
    os.write(1, b"%d\n" % i)
`

// TestV1OutputIsSentAsItIsRead checks that output reaches the client as soon
// as the daemon reads it, as the service's does, without waiting for more:
// the run writes "first", then waits until the test, having received it,
// removes a file; "second" comes from another process. Then each line of
// drainedLines follows the previous one as soon as the daemon has read it,
// and must still arrive on its own.
func TestV1OutputIsSentAsItIsRead(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)
	ctx, cancel := context.WithTimeout(c.ctx, timescale.D(30*time.Second))
	defer cancel()
	c.ctx = ctx
	wait := "/tmp/wait-" + randomHex(8)
	runner := fmt.Sprintf(`touch %[1]s; /bin/echo first
while [ -e %[1]s ]; do sleep 0.01; done
/bin/echo second; exec python3 /ATO/code`, wait)
	c.send(job{language: "python", code: drainedLines, timeout: 60, customRunner: runner}.encode(t))
	f, err := c.next()
	if err != nil || f.stream != "Stdout" || string(f.data) != "first\n" {
		t.Fatalf("first message: %s %q (%v), want Stdout %q before the run goes on", f.stream, f.data, err, "first\n")
	}
	removeInRun(t, d, wait)
	want := []string{"Stdout second\n"}
	for i := range 8 {
		want = append(want, fmt.Sprintf("Stdout %d\n", i))
	}
	want = append(want, "Done exited/0")
	var got []string
	for _, f := range c.untilDone() {
		if f.stream == "Done" {
			got = append(got, fmt.Sprintf("Done %s/%d", f.done.StatusType, f.done.StatusValue))
		} else {
			got = append(got, f.stream+" "+string(f.data))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages after first:\n%q\nwant one for each write:\n%q", got, want)
	}
}

// removeInRun removes path, a file in a run's own /tmp, through the root of
// one of d's runs' processes (atodtest.RemoveInRoot).
func removeInRun(t testing.TB, d *daemon, path string) {
	t.Helper()
	if err := atodtest.RemoveInRoot(d.runProcesses(t), path); err != nil {
		t.Fatal(err)
	}
}
