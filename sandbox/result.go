package sandbox

import (
	"errors"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/sandbox/job"
)

// cgroupStats are the statistics read from a run's cgroup.
type cgroupStats struct {
	User, Kernel     time.Duration
	MemoryPeak       int64
	OOMKills         int64
	MinorFaults      int64 // all faults minus major ones
	MajorFaults      int64
	ThrottledPeriods int64
	ThrottledTime    time.Duration
}

// runEnd is how the daemon saw a run end: what made it stop waiting, and
// the wall-clock time from the job's handover to the end.
type runEnd struct {
	timedOut    bool // its timeout passed
	killed      bool // its caller gave up
	outOfMemory bool // its socket buffers passed their ceiling (cgroup v1)
	cpuTime     bool // its CPU time passed its limit
	real        time.Duration
}

// resultOf turns what the daemon learnt of a run into its Result: how it
// saw the run end, init's report (repErr: io.EOF when init wrote none) and
// the run's cgroup statistics. res carries what the output copying set. The
// warning is init's own error, for the log; an error is a report that
// cannot be read, a failure of the sandbox.
func resultOf(end runEnd, rep initproto.Report, repErr error, cgs cgroupStats, res job.Result) (_ job.Result, warning string, _ error) {
	res.TimedOut, res.Killed, res.CPUTimeExceeded = end.timedOut, end.killed, end.cpuTime
	res.Stats = job.Stats{
		Real:             end.real,
		User:             cgs.User,
		Kernel:           cgs.Kernel,
		MaxMemKiB:        cgs.MemoryPeak / 1024,
		MajorPageFaults:  cgs.MajorFaults,
		MinorPageFaults:  cgs.MinorFaults,
		OOMKilled:        cgs.OOMKills > 0 || end.outOfMemory,
		MemoryPeakBytes:  cgs.MemoryPeak,
		CPUThrottled:     cgs.ThrottledPeriods,
		CPUThrottledTime: cgs.ThrottledTime,
	}
	killed := job.Status{Type: job.StatusKilled, Value: int(syscall.SIGKILL)}
	switch {
	case end.timedOut || end.killed || end.outOfMemory || end.cpuTime:
		res.Status = killed
	case repErr == nil:
		res.Status = statusOf(syscall.WaitStatus(rep.WaitStatus))
		warning = rep.Error
		applyUsage(&res.Stats, rep)
	case errors.Is(repErr, io.EOF):
		// init died without a word: only the memory limit or a kill from
		// outside can do that, both through the cgroup.
		res.Status = killed
		if !res.Stats.OOMKilled {
			res.Status = job.Status{Type: job.StatusUnknown, Value: -1}
		}
	default:
		return res, "", repErr
	}
	return res, warning, nil
}

// applyUsage takes the statistics that only the processes' own accounting
// has from init's report, which covers every process of the run.
func applyUsage(st *job.Stats, rep initproto.Report) {
	u := rep.Usage
	st.Real = time.Duration(rep.RealNs)
	st.User = time.Duration(u.UserNs)
	st.Kernel = time.Duration(u.SystemNs)
	st.MaxMemKiB = u.MaxRSS
	st.Waits = u.Nvcsw
	st.Preemptions = u.Nivcsw
	st.MajorPageFaults = u.Majflt
	st.MinorPageFaults = u.Minflt
	st.InputOps = u.Inblock
	st.OutputOps = u.Oublock
}

// statusOf maps a wait status to the runner's job.Status.
func statusOf(ws syscall.WaitStatus) job.Status {
	switch {
	case ws.Exited():
		return job.Status{Type: job.StatusExited, Value: ws.ExitStatus()}
	case ws.Signaled() && ws.CoreDump():
		return job.Status{Type: job.StatusCoreDumped, Value: int(ws.Signal())}
	case ws.Signaled():
		return job.Status{Type: job.StatusKilled, Value: int(ws.Signal())}
	default:
		return job.Status{Type: job.StatusUnknown, Value: -1}
	}
}

// template is what a prepared sandbox is made for: all of a run that its
// sandbox depends on, and the command and environment its runner starts
// with ahead. The job's files, timeout, output caps and CPU time are handed
// over when it runs, and are not part of it.
type template struct {
	image    string // the image's name (Spec.Image): empty, none is prepared ahead
	rootfs   string
	uid, gid uint32
	limits   job.Limits // output caps zero
	// interactive: /ATO/input is a FIFO the daemon feeds (Spec.Stdin)
	interactive bool
	// start is the job's command and environment as a runner started
	// ahead runs them (startOf; ahead_linux.go), or "".
	start string
}

// templateOf is the template of spec, whose limits are l (its own with the
// sandbox's defaults).
func templateOf(spec *job.Spec, l job.Limits) template {
	// Output caps and the CPU time bound are the run's alone: any
	// prepared sandbox of the same limits serves.
	l.StdoutBytes, l.StderrBytes, l.CPUTime = 0, 0, 0
	return template{image: spec.Image, rootfs: spec.Rootfs, uid: spec.UID, gid: spec.GID, limits: l, interactive: spec.Stdin != nil,
		start: startOf(spec.Command, spec.Env)}
}

// startOf is a job's command and environment as one comparable string:
// their encoding for init, handed over ahead, with the Bash that runs the
// runner waiting on its gate (bashWaitOption); or "" when the runner cannot
// start ahead: a command that is not the sandbox's Bash, or a job the
// handover will say is wrong.
func startOf(command, env []string) string {
	if len(command) == 0 || command[0] != job.BashPath {
		return ""
	}
	held := append([]string{command[0], bashWaitOption, strconv.Itoa(initproto.RunnerGateFD)}, command[1:]...)
	b, err := initproto.Job{Command: held, Env: env}.EncodeHeld()
	if err != nil {
		return ""
	}
	return string(b)
}

// bashWaitOption is atod-bash's option that makes it wait, before its
// startup files and script, until a descriptor reads a byte or its end
// (scripts/atod-bash.diff).
const bashWaitOption = "--atod-wait-fd"
