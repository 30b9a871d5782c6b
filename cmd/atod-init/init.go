package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
)

// inputPath is the runner's stdin (the runner contract's /ATO/input).
const inputPath = "/ATO/input"

// watchDaemon ends the run when the daemon dies. The daemon holds the read
// end of the report pipe; when it is gone, poll reports POLLERR on the write
// end, and init kills everything and exits, which takes the whole pid
// namespace with it. (The parent-death signal cannot do this: it follows the
// daemon's thread that forked the run, and a Go daemon's threads come and go.)
func watchDaemon(report *os.File) {
	fds := []unix.PollFd{{Fd: int32(report.Fd())}} // no events: only POLLERR/POLLHUP
	for {
		n, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || (n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0) {
			_ = syscall.Kill(-1, syscall.SIGKILL)
			os.Exit(1)
		}
	}
}

// runInit is PID 1 of a run. The handshake with the daemon:
//
//	daemon                          init (pid 1)               runner
//	  | -- fd 3: report pipe ------> |                            |
//	  | -- fd 4: job pipe ---------> |                            |
//	  |    (the sandbox is ready: it waits here, perhaps long)    |
//	  | -- job (command, env), EOF > |                            |
//	  |                              | -- fork, setsid, exec ---> |
//	  |                              |   reaps orphans ...        |
//	  |                              | <-------- runner exits --- |
//	  |                              | kill(-1, SIGKILL), reap all
//	  | <---- report (JSON) -------- |
//	  | <---- exit 0 --------------- |
//
// If the daemon kills the run (timeout, client gone) init dies with it and
// writes nothing; the daemon then knows the cause itself. A job pipe closed
// with no job is a sandbox discarded unused: init exits and reports nothing.
func runInit() int {
	report := os.NewFile(initproto.FD, "report")
	if report == nil {
		fmt.Fprintln(os.Stderr, "atod-init: no report pipe on fd 3")
		return 1
	}
	syscall.CloseOnExec(initproto.FD)
	// Not dumpable: the runner has init's uid, and could otherwise open
	// /proc/1/fd/3 and forge or block the report. The runner becomes
	// dumpable again when it execs.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	go watchDaemon(report)

	// PID 1 gets no signal it has no handler for; but the Go runtime
	// installs handlers (SIGTERM would end init and with it the run).
	// Catching everything and dropping it keeps init alive, and, unlike
	// SIG_IGN, is not inherited by the runner across exec.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	go func() {
		for range sigs {
		}
	}()

	j, err := readJob()
	if errors.Is(err, io.EOF) {
		return 0
	}
	if err != nil {
		return writeReport(report, initproto.Report{Error: err.Error()})
	}
	// The runner's environment is the job's alone; PATH in it finds the
	// command.
	os.Clearenv()
	for _, kv := range j.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return writeReport(report, initproto.Report{Error: fmt.Sprintf("invalid environment entry %q", kv)})
		}
		os.Setenv(k, v)
	}
	command := j.Command
	stdin, err := os.Open(inputPath)
	if err != nil {
		stdin, err = os.Open(os.DevNull)
		if err != nil {
			return writeReport(report, initproto.Report{Error: fmt.Sprintf("opening stdin: %v", err)})
		}
	}

	start := time.Now()
	pid, err := startRunner(command, stdin)
	stdin.Close()
	if err != nil {
		// The shell convention: 127 for a missing command, 126 otherwise.
		code := 126
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT) {
			code = 127
		}
		fmt.Fprintf(os.Stderr, "atod-init: starting %s: %v\n", command[0], err)
		return writeReport(report, initproto.Report{
			WaitStatus: uint32(code) << 8,
			Error:      fmt.Sprintf("starting %s: %v", command[0], err),
		})
	}

	var rep initproto.Report
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			rep.Error = fmt.Sprintf("waiting for the runner: %v", err)
			break
		}
		if wpid == pid {
			rep.WaitStatus = uint32(ws)
			break
		}
	}
	rep.RealNs = time.Since(start).Nanoseconds()

	// The run ends with its runner: nothing it started outlives it.
	_ = syscall.Kill(-1, syscall.SIGKILL)
	for {
		_, err := syscall.Wait4(-1, nil, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			break
		}
	}

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err == nil {
		rep.Usage = initproto.Usage{
			UserNs:   ru.Utime.Nano(),
			SystemNs: ru.Stime.Nano(),
			MaxRSS:   ru.Maxrss,
			Minflt:   ru.Minflt,
			Majflt:   ru.Majflt,
			Inblock:  ru.Inblock,
			Oublock:  ru.Oublock,
			Nvcsw:    ru.Nvcsw,
			Nivcsw:   ru.Nivcsw,
		}
	}
	return writeReport(report, rep)
}

// startRunner starts command in a session of its own (so that `kill 0` in
// the runner's process group never reaches init) with stdin from in.
func startRunner(command []string, in *os.File) (int, error) {
	path, err := exec.LookPath(command[0])
	if err != nil {
		return 0, err
	}
	return syscall.ForkExec(path, command, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{in.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
}

// readJob waits for the daemon's job on the job pipe.
func readJob() (initproto.Job, error) {
	f := os.NewFile(initproto.JobFD, "job")
	if f == nil {
		return initproto.Job{}, fmt.Errorf("no job pipe on fd %d", initproto.JobFD)
	}
	defer f.Close()
	return initproto.ReadJob(f)
}

func writeReport(f *os.File, rep initproto.Report) int {
	if err := initproto.Write(f, rep); err != nil {
		fmt.Fprintf(os.Stderr, "atod-init: %v\n", err)
		return 1
	}
	return 0
}
