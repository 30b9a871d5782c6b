package inittest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/internal/timescale"
)

// initRun is atod-init started as PID 1 of a new pid namespace (in a user
// namespace of its own, mapping the test's ids to themselves), with the
// report and job pipes on fds 3 and 4 as the daemon passes them.
type initRun struct {
	cmd            *exec.Cmd
	report, job    *os.File // the daemon's ends
	stdout, stderr atodtest.SyncBuffer
	exited         chan struct{}
}

func startInit(t *testing.T, extra ...*os.File) *initRun {
	t.Helper()
	return startInitVia(t, nil, extra...)
}

// startInitVia is startInit with init started by wrap, a command line that
// execs its last argument (init) as PID 1 after preparing something.
func startInitVia(t *testing.T, wrap []string, extra ...*os.File) *initRun {
	t.Helper()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	jobR, jobW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &initRun{report: reportR, job: jobW, exited: make(chan struct{})}
	argv := append(slices.Clone(wrap), initPath)
	r.cmd = exec.Command(argv[0], argv[1:]...)
	r.cmd.Env = []string{"HOST_ONLY=1"} // init's own: the runner gets the job's
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	r.cmd.ExtraFiles = append([]*os.File{reportW, jobR}, extra...) // initproto.FD, initproto.JobFD, ...
	r.cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting atod-init in a pid namespace: %v", err)
	}
	reportW.Close()
	jobR.Close()
	go func() {
		defer close(r.exited)
		_ = r.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.report.Close()
		r.job.Close()
	})
	return r
}

// hand writes raw to the job pipe and closes it, as the daemon does.
func (r *initRun) hand(t *testing.T, raw []byte) {
	t.Helper()
	if _, err := r.job.Write(raw); err != nil {
		t.Fatalf("handing over the job: %v", err)
	}
	r.job.Close()
}

func (r *initRun) handJob(t *testing.T, j initproto.Job) {
	t.Helper()
	b, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r.hand(t, b)
}

// handHeld hands j over ahead, as the daemon does: the pipe stays open.
func (r *initRun) handHeld(t *testing.T, j initproto.Job) {
	t.Helper()
	b, err := j.EncodeHeld()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.job.Write(b); err != nil {
		t.Fatalf("handing over the job: %v", err)
	}
}

// wait waits for init to exit, and returns its exit code and report.
func (r *initRun) wait(t *testing.T) (initproto.Report, int, error) {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatalf("atod-init did not exit; stderr %q", r.stderr.String())
	}
	rep, err := initproto.Read(r.report)
	return rep, r.cmd.ProcessState.ExitCode(), err
}

var path = "PATH=/usr/bin:/bin"

// TestInitRunsJob: init runs the job's command with the job's environment
// alone, in a session of its own, with no descriptor but stdin, stdout and
// stderr (not even one the daemon's side passed on to init), reports its
// wait status and the run's usage, and ends
// what the runner left behind (the orphan would sleep for a minute).
func TestInitRunsJob(t *testing.T) {
	passed, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer passed.Close()
	defer w.Close()
	r := startInit(t, passed)
	script := `echo "out $X $HOST_ONLY"; echo err >&2; (sleep 60 &); read -r pid comm state ppid pgrp sid rest </proc/self/stat; test "$pid" = "$sid" || echo "not a session leader"; ` +
		`for fd in 3 4 5 6 7 8 9 10 11 12; do if [ -e /proc/self/fd/$fd ]; then echo "descriptor $fd open"; fi; done; exit 3`
	r.handJob(t, initproto.Job{Command: []string{"sh", "-c", script}, Env: []string{path, "X=y"}})
	rep, code, err := r.wait(t)
	if err != nil || code != 0 {
		t.Fatalf("report %+v, %v; exit %d; stderr %q", rep, err, code, r.stderr.String())
	}
	if rep.WaitStatus != 3<<8 || rep.Error != "" || rep.RealNs <= 0 || rep.Usage.UserNs+rep.Usage.SystemNs <= 0 || rep.Usage.MaxRSS <= 0 {
		t.Errorf("report %+v: want exit status 3, some time and memory, no error", rep)
	}
	if got := r.stdout.String(); got != "out y \n" {
		t.Errorf("stdout %q, want %q (the job's environment, nothing of init's)", got, "out y \n")
	}
	if got := r.stderr.String(); got != "err\n" {
		t.Errorf("stderr %q", got)
	}
}

// TestInitReapsOrphans: init reaps the run's orphans while the runner runs,
// not only at its end: they are init's children once their parents are
// gone, and left unreaped they would hold their pids (a run's pids are
// bounded) until the run ends.
func TestInitReapsOrphans(t *testing.T) {
	r := startInit(t)
	// Once the subshells are gone (wait), every orphan is init's child,
	// alive, a zombie, or reaped already.
	r.handJob(t, initproto.Job{Command: []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do (true &); done; wait; echo spawned >&2; exec sleep 60"}, Env: []string{path}})
	atodtest.WaitFor(t, 10*time.Second, "the orphans to start", func() bool { return strings.Contains(r.stderr.String(), "spawned") })
	initPid := strconv.Itoa(r.cmd.Process.Pid)
	atodtest.WaitFor(t, 10*time.Second, "init to reap its orphans (its only child left the runner)", func() bool {
		return children(t, initPid) == 1
	})
}

// parents maps every host process, zombies included, to its parent's pid.
func parents(t *testing.T) map[string]string {
	t.Helper()
	statuses, err := filepath.Glob("/proc/[0-9]*/status")
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]string{}
	for _, f := range statuses {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone
		}
		_, rest, _ := strings.Cut(string(b), "\nPPid:\t")
		parent, _, _ := strings.Cut(rest, "\n")
		ps[filepath.Base(filepath.Dir(f))] = parent
	}
	return ps
}

// children counts the processes, zombies included, whose parent is the
// host's pid ppid.
func children(t *testing.T, ppid string) int {
	t.Helper()
	n := 0
	for _, parent := range parents(t) {
		if parent == ppid {
			n++
		}
	}
	return n
}

// TestRunnerSignalsAreDefault: the runner starts with every signal's
// default action and none blocked, whatever init inherited (here: HUP and
// INT ignored), as a program started by a shell expects.
func TestRunnerSignalsAreDefault(t *testing.T) {
	r := startInitVia(t, []string{"sh", "-c", `trap "" HUP INT; exec "$0"`})
	r.handJob(t, initproto.Job{Command: []string{"sh", "-c", `while read -r k v; do case $k in SigIgn:|SigBlk:) echo "$k $v";; esac; done </proc/self/status`}, Env: []string{path}})
	rep, code, err := r.wait(t)
	if err != nil || code != 0 || rep.WaitStatus != 0 {
		t.Fatalf("report %+v, %v, exit %d; stderr %q", rep, err, code, r.stderr.String())
	}
	if got, want := r.stdout.String(), "SigBlk: 0000000000000000\nSigIgn: 0000000000000000\n"; got != want {
		t.Errorf("the runner's signals:\n%s\nwant\n%s", got, want)
	}
}

// TestInitIgnoresSignalsFromItsRun: PID 1 gets no signal from inside its
// namespace (it has no handlers), so a runner cannot end init and with it
// the report.
func TestInitIgnoresSignalsFromItsRun(t *testing.T) {
	r := startInit(t)
	r.handJob(t, initproto.Job{Command: []string{"sh", "-c", "kill -TERM 1; kill -INT 1; kill -HUP 1; kill -KILL 1; echo alive"}, Env: []string{path}})
	rep, code, err := r.wait(t)
	if err != nil || code != 0 || rep.WaitStatus != 0 || r.stdout.String() != "alive\n" {
		t.Errorf("report %+v, %v; exit %d; stdout %q, stderr %q", rep, err, code, r.stdout.String(), r.stderr.String())
	}
}

// TestInitUnusedSandbox: a job pipe closed with nothing on it is a sandbox
// discarded unused: init exits 0 and reports nothing.
func TestInitUnusedSandbox(t *testing.T) {
	r := startInit(t)
	r.job.Close()
	if rep, code, err := r.wait(t); !errors.Is(err, io.EOF) || code != 0 {
		t.Errorf("report %+v, %v, exit %d; want none (io.EOF) and 0", rep, err, code)
	}
}

// TestInitRefuses: what init cannot run is reported as its error, with the
// shell's exit status for a command that cannot start.
func TestInitRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		job    string
		status uint32
		error  string
	}{
		{"no such command", "1\x00no-such-command-atod\x00" + path + "\x00", 127 << 8, "starting no-such-command-atod"},
		{"not runnable", "1\x00/tmp\x00" + path + "\x00", 126 << 8, "starting /tmp"},
		{"unterminated", "1\x00true", 0, "decoding job"},
		{"bad count", "x\x00true\x00", 0, "decoding job"},
		{"count beyond the entries", "3\x00true\x00", 0, "decoding job"},
		{"no command", "0\x00" + path + "\x00", 0, "decoding job"},
		{"environment entry without =", "1\x00true\x00NOEQUALS\x00", 0, "invalid environment entry"},
		{"environment entry without a name", "1\x00true\x00=x\x00", 0, "invalid environment entry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startInit(t)
			r.hand(t, []byte(tt.job))
			rep, code, err := r.wait(t)
			if err != nil || code != 0 || rep.WaitStatus != tt.status || !strings.Contains(rep.Error, tt.error) {
				t.Errorf("report %+v, %v, exit %d; want status %#x and an error with %q", rep, err, code, tt.status, tt.error)
			}
		})
	}
	t.Run("too big", func(t *testing.T) {
		r := startInit(t)
		go func() { // init stops reading past the bound
			_, _ = r.job.Write(bytes.Repeat([]byte("a"), initproto.MaxJobSize+4096))
			r.job.Close()
		}()
		if rep, _, err := r.wait(t); err != nil || !strings.Contains(rep.Error, "more than") {
			t.Errorf("report %+v, %v", rep, err)
		}
	})
}

// TestInitEndsRunWhenDaemonGoes: when the daemon's end of the report pipe
// closes (the daemon died), init kills the run and exits at once, rather
// than letting it run on unwatched.
func TestInitEndsRunWhenDaemonGoes(t *testing.T) {
	r := startInit(t)
	r.handJob(t, initproto.Job{Command: []string{"sh", "-c", "echo started >&2; exec sleep 60"}, Env: []string{path}})
	atodtest.WaitFor(t, 10*time.Second, "the runner to start", func() bool { return strings.Contains(r.stderr.String(), "started") })
	r.report.Close()
	select {
	case <-r.exited:
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatal("atod-init ran on after the daemon's end of the report pipe closed")
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestInitHeldRunnerGate: a job handed over ahead (EncodeHeld) starts at
// once and keeps its pipe open; its runner has the gate as descriptor
// initproto.RunnerGateFD, and sleeps reading it until StartRunner, when it
// reads the gate's end. The job pipe never reaches the runner, and the
// report's real time is the run's, from StartRunner.
func TestInitHeldRunnerGate(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := startInit(t)
	script := `echo $$ >"$PIDF"; read -r x <&` + strconv.Itoa(initproto.RunnerGateFD) + `; echo "gate:$?:$x"; ` +
		`if [ -e /proc/self/fd/4 ]; then echo "the job pipe is open"; fi`
	r.handHeld(t, initproto.Job{Command: []string{"sh", "-c", script}, Env: []string{path, "PIDF=" + pidFile}})
	// The runner's pid as the host sees it: its child's.
	var runner string
	atodtest.WaitFor(t, 10*time.Second, "the runner to start", func() bool {
		b, _ := os.ReadFile(pidFile)
		runner = strings.TrimSpace(string(b))
		return runner != ""
	})
	initPid := strconv.Itoa(r.cmd.Process.Pid)
	ps := parents(t)
	for pid, ppid := range ps {
		if ppid == initPid {
			runner = pid
		}
	}
	atodtest.WaitFor(t, 10*time.Second, "the runner to sleep reading its gate", func() bool {
		b, _ := os.ReadFile("/proc/" + runner + "/wchan")
		return strings.Contains(string(b), "pipe_read")
	})
	if r.stdout.String() != "" {
		t.Fatalf("the runner went on before StartRunner: stdout %q", r.stdout.String())
	}
	// The wait is the point: longer than the run after it, so that a real
	// time counted from the runner's start shows.
	time.Sleep(300 * time.Millisecond)
	handover := time.Now()
	if _, err := r.job.Write([]byte{initproto.StartRunner}); err != nil {
		t.Fatal(err)
	}
	r.job.Close() // the daemon's teardown; changes nothing
	rep, code, err := r.wait(t)
	window := time.Since(handover)
	if err != nil || code != 0 || rep.WaitStatus != 0 || r.stdout.String() != "gate:1:\n" {
		t.Fatalf("report %+v, %v, exit %d; stdout %q, stderr %q", rep, err, code, r.stdout.String(), r.stderr.String())
	}
	if real := time.Duration(rep.RealNs); real > window {
		t.Errorf("the report's real time is %s, more than the %s from StartRunner to the report: the wait is in it", real, window)
	}
}

// TestInitHeldStartedAtOnce: a held job and its StartRunner in one write,
// as the cold path hands them (prepared, then run at once), start the
// runner and let it go on.
func TestInitHeldStartedAtOnce(t *testing.T) {
	r := startInit(t)
	b, err := initproto.Job{Command: []string{"sh", "-c", `read -r x <&` + strconv.Itoa(initproto.RunnerGateFD) + `; echo "gate:$?"`}, Env: []string{path}}.EncodeHeld()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.job.Write(append(b, initproto.StartRunner)); err != nil {
		t.Fatal(err)
	}
	rep, code, err := r.wait(t)
	if err != nil || code != 0 || rep.WaitStatus != 0 || r.stdout.String() != "gate:1\n" {
		t.Fatalf("report %+v, %v, exit %d; stdout %q, stderr %q", rep, err, code, r.stdout.String(), r.stderr.String())
	}
}

// jobPipeEmpty reports whether init has read everything written to its job
// pipe.
func jobPipeEmpty(t *testing.T, r *initRun) bool {
	t.Helper()
	n, err := unix.IoctlGetInt(int(r.job.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n == 0
}

// TestInitHeldPipeEnds: a held job pipe that ends before StartRunner is a
// sandbox discarded: init kills the waiting runner, exits 0 and reports
// nothing; a byte that is no request is an error in the report.
func TestInitHeldPipeEnds(t *testing.T) {
	hold := func(t *testing.T) *initRun {
		r := startInit(t)
		r.handHeld(t, initproto.Job{Command: []string{"sleep", "60"}, Env: []string{path}})
		return r
	}
	t.Run("discarded", func(t *testing.T) {
		r := hold(t)
		r.job.Close()
		if rep, code, err := r.wait(t); !errors.Is(err, io.EOF) || code != 0 {
			t.Errorf("report %+v, %v, exit %d; want none (io.EOF) and 0", rep, err, code)
		}
	})
	t.Run("StartRunner twice", func(t *testing.T) {
		r := hold(t)
		if _, err := r.job.Write([]byte{initproto.StartRunner}); err != nil {
			t.Fatal(err)
		}
		// A read apart: init reads bytes past the held job it has
		// read with it as the daemon's first and only one.
		atodtest.WaitFor(t, 10*time.Second, "init to read the first", func() bool {
			return jobPipeEmpty(t, r)
		})
		if _, err := r.job.Write([]byte{initproto.StartRunner}); err != nil {
			t.Fatal(err)
		}
		if rep, _, err := r.wait(t); err != nil || !strings.Contains(rep.Error, "StartRunner after the runner's start") {
			t.Errorf("report %+v, %v", rep, err)
		}
	})
	t.Run("no request", func(t *testing.T) {
		r := hold(t)
		if _, err := r.job.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if rep, _, err := r.wait(t); err != nil || !strings.Contains(rep.Error, "0x78 is no request") {
			t.Errorf("report %+v, %v", rep, err)
		}
	})
}
