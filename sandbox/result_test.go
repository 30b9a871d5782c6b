package sandbox

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/sandbox/job"
)

// TestResultOf covers every way a run's end, init's report and the cgroup's
// statistics combine into a Result.
func TestResultOf(t *testing.T) {
	exited3 := initproto.Report{WaitStatus: 3 << 8, RealNs: 7e6, Usage: initproto.Usage{UserNs: 2e6, SystemNs: 1e6, MaxRSS: 900, Nvcsw: 4}}
	segv := initproto.Report{WaitStatus: uint32(syscall.SIGSEGV) | 0x80} // core dumped
	cgs := cgroupStats{User: 5 * time.Millisecond, MemoryPeak: 4 << 20, MajorFaults: 1, MinorFaults: 50, ThrottledPeriods: 2}
	killed9 := job.Status{Type: job.StatusKilled, Value: 9}
	for _, c := range []struct {
		name    string
		end     runEnd
		rep     initproto.Report
		repErr  error
		cgs     cgroupStats
		status  job.Status
		oom     bool
		warning string
		err     bool
	}{
		{name: "exited: the runner's status and init's usage", rep: exited3, cgs: cgs,
			status: job.Status{Type: job.StatusExited, Value: 3}},
		{name: "core dumped", rep: segv, cgs: cgs, status: job.Status{Type: job.StatusCoreDumped, Value: int(syscall.SIGSEGV)}},
		{name: "init's own error is a warning", rep: initproto.Report{WaitStatus: 127 << 8, Error: "starting x: not found"},
			status: job.Status{Type: job.StatusExited, Value: 127}, warning: "starting x: not found"},
		{name: "timed out: killed/9 whatever the report", end: runEnd{timedOut: true}, rep: exited3, status: killed9},
		{name: "the caller gave up", end: runEnd{killed: true}, repErr: io.EOF, status: killed9},
		{name: "socket buffers past their ceiling", end: runEnd{outOfMemory: true}, repErr: io.EOF, status: killed9, oom: true},
		{name: "init killed by the memory limit", repErr: io.EOF, cgs: cgroupStats{OOMKills: 1}, status: killed9, oom: true},
		{name: "init silent for no known reason", repErr: io.EOF, status: job.Status{Type: job.StatusUnknown, Value: -1}},
		{name: "an unreadable report is the sandbox's failure", repErr: errors.New("decoding init report: bad"), err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.end.real = 9 * time.Millisecond
			res, warning, err := resultOf(c.end, c.rep, c.repErr, c.cgs, job.Result{StdoutTruncated: true})
			if (err != nil) != c.err {
				t.Fatalf("error %v, want one: %v", err, c.err)
			}
			if c.err {
				return
			}
			if res.Status != c.status || res.Stats.OOMKilled != c.oom || warning != c.warning {
				t.Errorf("status %v oom %v warning %q, want %v %v %q", res.Status, res.Stats.OOMKilled, warning, c.status, c.oom, c.warning)
			}
			if res.TimedOut != c.end.timedOut || res.Killed != c.end.killed || !res.StdoutTruncated {
				t.Errorf("timed out %v killed %v stdout truncated %v, want %v %v true", res.TimedOut, res.Killed, res.StdoutTruncated, c.end.timedOut, c.end.killed)
			}
			// init's accounting where it reported; the daemon's own and
			// the cgroup's otherwise.
			if c.repErr == nil && c.status.Type != job.StatusKilled {
				if res.Stats.Real != time.Duration(c.rep.RealNs) || res.Stats.User != time.Duration(c.rep.Usage.UserNs) || res.Stats.MaxMemKiB != c.rep.Usage.MaxRSS || res.Stats.Waits != c.rep.Usage.Nvcsw {
					t.Errorf("stats %+v, want init's %+v", res.Stats, c.rep)
				}
			} else if res.Stats.Real != c.end.real || res.Stats.User != c.cgs.User || res.Stats.MaxMemKiB != c.cgs.MemoryPeak/1024 {
				t.Errorf("stats %+v, want the daemon's time and the cgroup's %+v", res.Stats, c.cgs)
			}
			if res.Stats.MemoryPeakBytes != c.cgs.MemoryPeak || res.Stats.CPUThrottled != c.cgs.ThrottledPeriods {
				t.Errorf("cgroup stats %+v, want %+v", res.Stats, c.cgs)
			}
		})
	}
}

// TestTemplateOf: runs that differ only in what is handed over share a
// template; anything their sandbox is made of, or its runner started with,
// parts them.
func TestTemplateOf(t *testing.T) {
	base := job.Spec{Image: "debian-12", Rootfs: "/trees/a/rootfs", UID: 1000, GID: 1000,
		Files: job.Files{Code: []byte("a")}, Command: job.RunnerCommand(), Env: []string{"A=1"}, Timeout: time.Second}
	l := job.DefaultLimits
	other := base
	other.Files.Code, other.Files.Runner, other.Timeout = []byte("b"), []byte("exit 1"), time.Minute
	ol := l
	ol.StdoutBytes, ol.StderrBytes, ol.CPUTime = 1, 2, time.Second
	if templateOf(&base, l) != templateOf(&other, ol) {
		t.Errorf("runs differing in files, timeout, output caps and CPU time have different templates")
	}
	for name, change := range map[string]func(*job.Spec, *job.Limits){
		"image":  func(s *job.Spec, _ *job.Limits) { s.Image = "python" },
		"rootfs": func(s *job.Spec, _ *job.Limits) { s.Rootfs = "/trees/b/rootfs" },
		"uid":    func(s *job.Spec, _ *job.Limits) { s.UID = 0 },
		"gid":    func(s *job.Spec, _ *job.Limits) { s.GID = 0 },
		"memory": func(_ *job.Spec, l *job.Limits) { l.MemoryBytes /= 2 },
		"tmpfs":  func(_ *job.Spec, l *job.Limits) { l.TmpfsBytes /= 2 },
		// The runner starts ahead with them (ahead_linux.go).
		"command": func(s *job.Spec, _ *job.Limits) { s.Command = []string{job.BashPath, "/ATO/code"} },
		"env":     func(s *job.Spec, _ *job.Limits) { s.Env = []string{"B=2"} },
	} {
		s, cl := base, l
		change(&s, &cl)
		if templateOf(&s, cl) == templateOf(&base, l) {
			t.Errorf("a different %s has the same template", name)
		}
	}
}

// TestStartOf: a runner started ahead is the sandbox's Bash waiting on the
// gate init gives it, its command otherwise the job's; a command that is
// not the sandbox's Bash cannot wait, and starts at the handover.
func TestStartOf(t *testing.T) {
	env := []string{"A=1"}
	want, err := initproto.Job{Command: []string{job.BashPath, "--atod-wait-fd", "3", job.RunnerPath, "x"}, Env: env}.EncodeHeld()
	if err != nil {
		t.Fatal(err)
	}
	if got := startOf(append(job.RunnerCommand(), "x"), env); got != string(want) {
		t.Errorf("startOf(the runner command) = %q, want %q", got, want)
	}
	for _, command := range [][]string{nil, {"/bin/bash", job.RunnerPath}, {"x"}} {
		if got := startOf(command, env); got != "" {
			t.Errorf("startOf(%q) = %q, want none: it cannot wait", command, got)
		}
	}
}
