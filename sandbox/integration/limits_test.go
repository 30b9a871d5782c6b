package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox/job"
)

func TestPidsLimit(t *testing.T) {
	sb := newSandbox(t, 1)
	script := `python3 -c '
import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print(n, e.errno)
'`
	out := runScript(t, sb, script, timescale.D(20*time.Second), func(s *job.Spec) { s.Limits.Pids = 40 })
	fields := strings.Fields(out.stdout.String())
	if len(fields) != 2 {
		t.Fatalf("stdout %q, stderr %q", out.stdout.String(), out.stderr.String())
	}
	n, _ := strconv.Atoi(fields[0])
	// The limit counts every task of the run: init's threads, bash,
	// python and the children.
	if n < 20 || n >= 40 || fields[1] != "11" {
		t.Errorf("forked %d children before errno %s under a limit of 40 tasks", n, fields[1])
	}
	assertNoLeftovers(t, sb)
}

func TestMemoryLimitAndOOMReport(t *testing.T) {
	sb := newSandbox(t, 2)
	rootfs := testRootfs(t)
	neighbour := make(chan error, 1)
	go func() {
		out, err := runScriptErr(context.Background(), sb, rootfs, atodtest.HoldCode("neighbour")+"; echo alive", timescale.D(30*time.Second))
		if err == nil && out.stdout.String() != "alive\n" {
			err = fmt.Errorf("%v %q", out.res.Status, out.stdout.String())
		}
		neighbour <- err
	}()
	// The neighbour holds while the hog runs and is killed.
	awaitHold(t, sb, "neighbour")
	out := runScript(t, sb, "exec python3 -c 'x = bytearray(200 * 2**20); print(\"allocated\")'", timescale.D(20*time.Second),
		func(s *job.Spec) { s.Limits.MemoryBytes = 64 << 20 })
	release(t, sb, "neighbour")
	if out.res.Status.String() != "killed/9" || !out.res.Stats.OOMKilled || strings.Contains(out.stdout.String(), "allocated") {
		t.Errorf("200 MiB under a 64 MiB limit: %v OOMKilled %v stdout %q", out.res.Status, out.res.Stats.OOMKilled, out.stdout.String())
	}
	if peak := out.res.Stats.MemoryPeakBytes; peak > 64<<20 || peak < 32<<20 {
		t.Errorf("cgroup memory peak %d, want near the 64 MiB limit", peak)
	}
	// Within the limit the same program runs, and no OOM is reported.
	out = runScript(t, sb, "exec python3 -c 'x = bytearray(20 * 2**20); print(\"allocated\")'", timescale.D(20*time.Second),
		func(s *job.Spec) { s.Limits.MemoryBytes = 64 << 20 })
	if out.stdout.String() != "allocated\n" || out.res.Stats.OOMKilled {
		t.Errorf("20 MiB under a 64 MiB limit: %v OOMKilled %v", out.res.Status, out.res.Stats.OOMKilled)
	}
	if err := <-neighbour; err != nil {
		t.Errorf("neighbour: %v", err)
	}
	assertNoLeftovers(t, sb)
}

// TestCPUTimeLimit: a run's CPU time is bounded for all its processes
// together: two busy processes (each would be within the limit on its own
// time, as RLIMIT_CPU counts it) are killed once their sum passes it, long
// before the timeout, and the result says why. A run that sleeps uses no
// CPU time and ends as it would.
func TestCPUTimeLimit(t *testing.T) {
	sb := newSandbox(t, 1)
	const limit = 400 * time.Millisecond
	script := "(while :; do :; done) & while :; do :; done"
	out := runScript(t, sb, script, timescale.D(20*time.Second), func(s *job.Spec) { s.Limits.CPUTime, s.Limits.CPUs = limit, 2 })
	cpu := out.res.Stats.User + out.res.Stats.Kernel
	t.Logf("CPU %v in %v", cpu, out.res.Stats.Real)
	if !out.res.CPUTimeExceeded || out.res.TimedOut || out.res.Status.String() != "killed/9" {
		t.Errorf("result %+v, want killed/9 for its CPU time, not timed out", out.res)
	}
	// Killed once the sum passed the limit: at a reading at most
	// cpuPollMin late (times two CPUs), plus the kill's own time. The
	// statistics' user and system times (v1: in ticks of 10 ms) round
	// differently from the total the limit is held to.
	if cpu < limit-limit/5 || cpu > limit+timescale.D(200*time.Millisecond) {
		t.Errorf("killed after %v of CPU time, want just past %v", cpu, limit)
	}
	assertNoLeftovers(t, sb)

	// Its start takes some CPU time (more under emulation: scaled).
	out = runScript(t, sb, "sleep 1; echo slept", timescale.D(20*time.Second), func(s *job.Spec) { s.Limits.CPUTime = timescale.D(200 * time.Millisecond) })
	if out.res.CPUTimeExceeded || out.res.Status.String() != "exited/0" || out.stdout.String() != "slept\n" {
		t.Errorf("a run that sleeps under a CPU time limit: %+v, %q", out.res, out.stdout.String())
	}
}

func TestCPULimit(t *testing.T) {
	sb := newSandbox(t, 1)
	// Two busy processes for one second of wall time under half a CPU.
	script := "(timeout 1 sh -c 'while :; do :; done' &); timeout 1 sh -c 'while :; do :; done'; wait"
	out := runScript(t, sb, script, timescale.D(10*time.Second), func(s *job.Spec) { s.Limits.CPUs = 0.5 })
	cpu := out.res.Stats.User + out.res.Stats.Kernel
	t.Logf("CPU %v in %v, throttled %d periods (%v)", cpu, out.res.Stats.Real, out.res.Stats.CPUThrottled, out.res.Stats.CPUThrottledTime)
	// The quota holds the run to half a CPU of the wall time it took (a
	// second, more where programs start slowly), give or take a period; a
	// busy machine may give it less.
	wall := out.res.Stats.Real
	if cpu > wall/2+wall/5+100*time.Millisecond || cpu < 100*time.Millisecond {
		t.Errorf("two busy loops under 0.5 CPU for %v used %v of CPU", wall, cpu)
	}
	if out.res.Stats.CPUThrottled == 0 {
		t.Errorf("no throttling reported")
	}
}

func TestForkBombIsContained(t *testing.T) {
	sb := newSandbox(t, 2)
	testForkBomb(t, sb)
}

// testForkBomb runs a fork bomb and, once it holds half its task limit, a
// neighbour, which must work; the bomb must be gone soon after its timeout
// (which is what is under test here, stretched by timescale for the
// neighbour's sake).
func testForkBomb(t *testing.T, sb *testSandbox, mod ...func(*job.Spec)) {
	t.Helper()
	rootfs := testRootfs(t)
	timeout := timescale.D(3 * time.Second)
	bomb := make(chan error, 1)
	start := time.Now()
	go func() {
		out, err := runScriptErr(context.Background(), sb, rootfs, forkBomb, timeout, mod...)
		if err == nil && !out.res.TimedOut {
			err = fmt.Errorf("the runner ended %v before its timeout", out.res.Status)
		}
		bomb <- err
	}()
	awaitForkBomb(t, sb)
	out := runScript(t, sb, "echo fine", timescale.D(10*time.Second), mod...)
	if out.stdout.String() != "fine\n" {
		t.Errorf("run beside a fork bomb: %v %q", out.res.Status, out.stdout.String())
	}
	if err := <-bomb; err != nil {
		t.Errorf("the fork bomb: %v", err)
	}
	t.Logf("fork bomb and neighbour done in %v", time.Since(start))
	if e := time.Since(start); e > timeout+timescale.D(2*time.Second) {
		t.Errorf("a fork bomb of timeout %v took %v to clear", timeout, e)
	}
	assertNoLeftovers(t, sb)
}

func TestSeccompAndPrivileges(t *testing.T) {
	sb := newSandbox(t, 1)
	script := `grep -E '^(Cap...|NoNewPrivs|Seccomp):' /proc/self/status
unshare -U true 2>&1 || true
unshare -rn true 2>&1 || true
python3 -c 'import ctypes; print("ptrace", ctypes.CDLL(None, use_errno=True).ptrace(0, 0, 0, 0), ctypes.get_errno())'
python3 -c 'import ctypes; print("keyctl", ctypes.CDLL(None, use_errno=True).syscall(250, 0, 0, 0, 0), ctypes.get_errno())'
python3 -c 'import ctypes; print("bpf", ctypes.CDLL(None, use_errno=True).syscall(321, 0, 0, 0), ctypes.get_errno())'
python3 -c 'import ctypes; print("io_uring", ctypes.CDLL(None, use_errno=True).syscall(425, 1, 0), ctypes.get_errno())'
python3 -c 'import ctypes; print("vsock", ctypes.CDLL(None, use_errno=True).socket(40, 1, 0), ctypes.get_errno())'
python3 -c 'import ctypes; print("alg", ctypes.CDLL(None, use_errno=True).socket(38, 5, 0), ctypes.get_errno())'
(echo forged > /proc/1/fd/3) 2>&1 | sed 's/.*: //'`
	out := runScript(t, sb, script, timescale.D(20*time.Second))
	got := out.stdout.String()
	// Every capability set empty: the bounding and inheritable sets too,
	// or an exec could give some back.
	for _, want := range []string{"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
		"CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2",
		"unshare failed: Operation not permitted", "ptrace -1 1\n", "keyctl -1 1\n", "bpf -1 1\n",
		// The allow-list's answers (sandbox/seccompprofile): io_uring is
		// absent (ENOSYS), and other socket families unsupported
		// (EAFNOSUPPORT).
		"io_uring -1 38\n", "vsock -1 97\n", "alg -1 97\n", "Permission denied\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stdout lacks %q:\n%s\nstderr %s", want, got, out.stderr.String())
		}
	}
}

// TestDeviceCgroup: a run may use the devices of its /dev and no other:
// devpts's ptmx (5:2) is a device node the run can reach, and its device
// cgroup refuses it.
func TestDeviceCgroup(t *testing.T) {
	sb := newSandbox(t, 1)
	script := `python3 -c '
import os
for path in "/dev/null", "/dev/pts/ptmx":
    try:
        os.close(os.open(path, os.O_RDWR))
        print(path, "opened")
    except OSError as e:
        print(path, e.strerror)
'`
	out := runScript(t, sb, script, timescale.D(20*time.Second))
	if got, want := out.stdout.String(), "/dev/null opened\n/dev/pts/ptmx Operation not permitted\n"; got != want {
		t.Errorf("stdout = %q, want %q (stderr %q)", got, want, out.stderr.String())
	}
}
