package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
)

// With Options.RunnersAhead, a sandbox starts its runner ahead: the static
// Bash that runs /ATO/runner is started when the sandbox is prepared, and
// waits, before it reads a byte of the runner, in its open(2) of
// /ATO/runner, which the daemon holds with a write lease (fcntl
// F_SETLEASE): the kernel keeps any other open of a leased file waiting
// until the holder lets go of the lease. The run hands over its files by
// writing them, the runner last through the leased descriptor, and letting
// go: Bash opens the file as it is then. A trivial run's round trip is 1-2
// ms shorter (a static Bash's start, issue 13), and the runner contract is
// unchanged: /ATO/runner is the same regular file, read by the same Bash.
//
// It is not the default, for what the wait costs: a reader's open of a
// file under a write lease is a lease downgrade, and __break_lease waits
// for a downgrade one jiffy at a time (its timeout is the lease's break
// time, which a downgrade leaves 0), and a timer of one jiffy fires at the
// second tick (the timer wheel never fires early): the waiting Bash wakes
// every other tick, 125 times a second at HZ=250. That is CPU while idle,
// and all of it in the run's own usage, which init reports: a true after
// 30 s prepared reported 145 ms of kernel time and 3,600 waits (by hand,
// with the daemon's debug log; TestPreparedWaitNotCharged checks 2 s).
//
// The kernel waits for a lease holder for fs.lease-break-time seconds only
// (45 by default), and then lets the open through: a Bash left waiting
// longer would read the runner empty. So a sandbox whose runner waits is
// handed over within runnerWaitMargin less than that of its runner's start,
// and before that the pool restarts its runner, which waits anew
// (renewRunner; pool_linux.go); a host whose lease-break-time leaves too
// little, or whose file system takes no lease, starts runners at the
// handover, as without RunnersAhead.

// runnerWaitMargin is how much of fs.lease-break-time a prepared sandbox
// does not use: the time a handover may take, and the pool's once-a-second
// look at its idle sandboxes.
const runnerWaitMargin = 10 * time.Second

// minRunnerWait is the least time worth starting runners ahead for: a pool
// restarts the runners of its idle sandboxes renewBefore before their wait
// ends, and at most once a second.
const minRunnerWait = renewBefore + 5*time.Second

// runnerWait is how long a sandbox's runner may wait on its lease: the
// host's fs.lease-break-time less runnerWaitMargin, or 0 (with why) when
// runners cannot wait: leases are off, or leave too little time. It is
// read for every sandbox: an operator may change the sysctl.
func runnerWait() (time.Duration, string) {
	enabled, err := sysctl("fs.leases-enable")
	if err != nil {
		return 0, err.Error()
	}
	if enabled == 0 {
		return 0, "fs.leases-enable is 0"
	}
	secs, err := sysctl("fs.lease-break-time")
	if err != nil {
		return 0, err.Error()
	}
	wait := time.Duration(secs)*time.Second - runnerWaitMargin
	if wait < minRunnerWait {
		return 0, fmt.Sprintf("fs.lease-break-time is %d s, less than %s", secs, minRunnerWait+runnerWaitMargin)
	}
	return wait, ""
}

// renewTimeout bounds how long renewRunner waits for init to have stopped
// the runner: a fraction of a millisecond, unless init is stuck.
const renewTimeout = 2 * time.Second

// renewRunner restarts p's runner, which waits ahead for its file, before
// the kernel lets its open through (p.expires): over the held job pipe
// (initproto.RestartRunner), init stops it, the daemon lets go of the lease
// it has been breaking and takes a fresh one on the still empty file, and
// init starts the runner again, which waits a whole runnerWait anew. It
// costs a static Bash's start, where preparing the sandbox again costs all
// of it. On an error p is spent: its caller discards it.
func (p *prepared) renewRunner() error {
	if p.runner == nil {
		return errors.New("restarting a runner that was not started ahead, or was handed over")
	}
	wait, why := p.s.runnerWaitNow()
	if wait == 0 {
		return fmt.Errorf("renewing the runner's wait: %s", why)
	}
	if _, err := p.job.Write([]byte{initproto.RestartRunner}); err != nil {
		return fmt.Errorf("asking init to restart the runner: %w", err)
	}
	if err := p.report.SetReadDeadline(time.Now().Add(renewTimeout)); err != nil {
		return fmt.Errorf("waiting for init to stop the runner: %w", err)
	}
	var answer [1]byte
	_, err := io.ReadFull(p.report, answer[:])
	if err == nil && answer[0] != initproto.RunnerStopped {
		// Its report: the runner had ended by itself.
		err = fmt.Errorf("init answered %q", answer[0])
	}
	if err != nil {
		return fmt.Errorf("waiting for init to stop the runner: %w", err)
	}
	if err := p.report.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("waiting for init to stop the runner: %w", err)
	}
	if _, err := unix.FcntlInt(p.runner.Fd(), unix.F_SETLEASE, unix.F_UNLCK); err != nil {
		return fmt.Errorf("letting go of the runner's old lease: %w", err)
	}
	if err := leaseRunner(p.runner); err != nil {
		if errors.Is(err, unix.EAGAIN) {
			// Before Linux 5.8 a write lease needs the file referred to
			// nowhere else, and the sandbox mounts it.
			return fmt.Errorf("%w: %w", errLeaseRefused, err)
		}
		return err
	}
	begun := time.Now()
	if _, err := p.job.Write([]byte{initproto.StartRunner}); err != nil {
		return fmt.Errorf("asking init to start the runner: %w", err)
	}
	p.expires = begun.Add(wait)
	return nil
}

// runnerWaitNow is runnerWait, no longer than Options.RunnerWait.
func (s *Sandbox) runnerWaitNow() (time.Duration, string) {
	wait, why := runnerWait()
	if s.runnerWaitMax > 0 && wait > s.runnerWaitMax {
		wait = s.runnerWaitMax
	}
	return wait, why
}

// errLeaseRefused is a runner's restart refused its fresh lease.
var errLeaseRefused = errors.New("the kernel refused a fresh lease on the runner file")

// leaseRunner takes a write lease on f, a job's runner file the daemon has
// just made and opened for writing: no other open of it completes until
// releaseRunner. A write lease needs the file open for writing nowhere else
// (older kernels: no other reference to it at all, hence before the
// sandbox's bind mount of it), and its owner (or CAP_LEASE): the daemon's.
func leaseRunner(f *os.File) error {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		return fmt.Errorf("taking a write lease on %s: %w", f.Name(), err)
	}
	// The kernel tells the holder that an open waits with SIGIO, to the
	// descriptor's owner, whom taking the lease made the daemon: with no
	// owner there is no signal. The daemon has nothing to do with it.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETOWN, 0); err != nil {
		return fmt.Errorf("clearing the owner of %s: %w", f.Name(), err)
	}
	return nil
}

// probeLease reports whether dir's file system takes a write lease, as
// makeJobDir asks of it.
func probeLease(dir string) error {
	f, err := os.CreateTemp(dir, "lease-probe-")
	if err != nil {
		return fmt.Errorf("probing file leases: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return leaseRunner(f)
}

// releaseRunner writes the runner into its leased file and lets go of the
// lease, and of the file: the runner's Bash, waiting to open it, goes on.
// On an error it keeps both, so that Bash never reads a runner cut short:
// the sandbox is torn down, its processes killed before the file is
// closed (prepared.teardown).
func releaseRunner(f *os.File, runner []byte) error {
	if n, err := f.WriteAt(runner, 0); err != nil || n != len(runner) {
		return fmt.Errorf("writing job file runner: %d of %d bytes: %w", n, len(runner), err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK); err != nil {
		// EAGAIN: the kernel's lease-break-time ran out, and took the
		// lease: Bash may have read the runner before it was written.
		return fmt.Errorf("letting go of the runner's lease: %w", err)
	}
	return f.Close()
}
