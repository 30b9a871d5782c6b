package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initreport"
)

// inputPath is the runner's stdin (the runner contract's /ATO/input).
const inputPath = "/ATO/input"

// init asks the kernel to kill init when the daemon dies: then the whole pid
// namespace, the run, dies with it. libcontainer's own parent-death signal
// does not survive the clone that makes the container's first process, so
// init sets its own. It runs here, in a package init, because the setting
// belongs to the calling thread and the runtime keeps package initialisation
// on the main thread, the one the daemon is the parent of.
func init() {
	if os.Getpid() == 1 {
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	}
}

// daemonGone reports whether the daemon died before init could ask to die
// with it: the read end of the report pipe, held by the daemon, is closed.
func daemonGone(report *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(report.Fd()), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0
}

// runInit is PID 1 of a run. The handshake with the daemon:
//
//	daemon                          init (pid 1)               runner
//	  | -- fd 3: report pipe ------> |                            |
//	  |                              | -- fork, setsid, exec ---> |
//	  |                              |   reaps orphans ...        |
//	  |                              | <-------- runner exits --- |
//	  |                              | kill(-1, SIGKILL), reap all
//	  | <---- report (JSON) -------- |
//	  | <---- exit 0 --------------- |
//
// If the daemon kills the run (timeout, client gone) init dies with it and
// writes nothing; the daemon then knows the cause itself.
func runInit(command []string) int {
	report := os.NewFile(initreport.FD, "report")
	if report == nil {
		fmt.Fprintln(os.Stderr, "atod-init: no report pipe on fd 3")
		return 1
	}
	syscall.CloseOnExec(initreport.FD)
	if daemonGone(report) {
		return 1
	}

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

	if len(command) == 0 {
		return writeReport(report, initreport.Report{Error: "no command given"})
	}
	stdin, err := os.Open(inputPath)
	if err != nil {
		stdin, err = os.Open(os.DevNull)
		if err != nil {
			return writeReport(report, initreport.Report{Error: fmt.Sprintf("opening stdin: %v", err)})
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
		return writeReport(report, initreport.Report{
			WaitStatus: uint32(code) << 8,
			Error:      fmt.Sprintf("starting %s: %v", command[0], err),
		})
	}

	var rep initreport.Report
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
		rep.Usage = initreport.Usage{
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

func writeReport(f *os.File, rep initreport.Report) int {
	if err := initreport.Write(f, rep); err != nil {
		fmt.Fprintf(os.Stderr, "atod-init: %v\n", err)
		return 1
	}
	return 0
}
