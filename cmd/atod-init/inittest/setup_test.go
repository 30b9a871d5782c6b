package inittest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/internal/timescale"
)

// setupRun is a sandbox started as the daemon starts one: `atod-init setup`
// with the daemon's descriptors, which clones the sandbox (PID 1 of new
// user, mount and pid namespaces, the test's child) mapping its root to the
// test's own ids.
type setupRun struct {
	proc   *os.Process // the sandbox
	job    *os.File    // the daemon's end of init's job pipe
	status string      // what the sandbox said on its status pipe: initproto.Ready when init runs
	state  *os.ProcessState
	exited chan struct{}
}

// startSetup starts a sandbox, hands it plan (raw, as the daemon's
// Plan.Encode gives it) with the seccomp program filter, and returns once
// its status pipe has ended: it failed, or init runs.
func startSetup(t *testing.T, plan []byte, filter []byte) *setupRun {
	t.Helper()
	var pipes [4][2]*os.File // report, job, setup, status: read and write ends
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pipes[i] = [2]*os.File{r, w}
		t.Cleanup(func() { r.Close(); w.Close() })
	}
	seccomp, err := os.CreateTemp(t.TempDir(), "filter")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seccomp.Write(filter); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Open(initPath)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	first := &exec.Cmd{
		Path: "/proc/self/fd/" + fmt.Sprint(initproto.ExecFD),
		Args: initproto.SetupArgs(fmt.Sprintf("0 %d 1\n", os.Getuid()), fmt.Sprintf("0 %d 1\n", os.Getgid()), false),
		// initproto.FD, JobFD, SetupFD, StatusFD, SeccompFD, ExecFD.
		ExtraFiles: []*os.File{pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][1], seccomp, exe},
	}
	if err := first.Start(); err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	for _, f := range []*os.File{pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][1]} {
		f.Close()
	}
	status := bufio.NewReader(pipes[3][0])
	pid, said, err := initproto.ReadPID(status)
	if werr := first.Wait(); werr != nil || err != nil {
		t.Fatalf("the first stage: %v, %v (%q)", werr, err, said)
	}
	r := &setupRun{job: pipes[1][1], exited: make(chan struct{})}
	if r.proc, err = os.FindProcess(pid); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.exited)
		r.state, _ = r.proc.Wait()
	}()
	t.Cleanup(func() {
		_ = r.proc.Kill()
		<-r.exited
	})
	if _, err := pipes[2][1].Write(plan); err != nil {
		t.Fatalf("handing over the plan: %v", err)
	}
	pipes[2][1].Close()
	rest, err := io.ReadAll(status)
	if err != nil {
		t.Fatal(err)
	}
	r.status = string(rest)
	return r
}

// exitCode waits for the sandbox to exit and returns its exit code.
func (r *setupRun) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(timescale.D(10 * time.Second)):
		t.Fatalf("the setup did not exit")
	}
	return r.state.ExitCode()
}

// bpf is a classic BPF program of the given instructions.
func bpf(insns ...[4]uint32) []byte {
	var b []byte
	for _, in := range insns {
		b = binary.LittleEndian.AppendUint16(b, uint16(in[0]))
		b = append(b, byte(in[1]), byte(in[2]))
		b = binary.LittleEndian.AppendUint32(b, in[3])
	}
	return b
}

// allowAll is a seccomp filter that allows every call: BPF_RET|BPF_K
// SECCOMP_RET_ALLOW.
var allowAll = bpf([4]uint32{unix.BPF_RET | unix.BPF_K, 0, 0, unix.SECCOMP_RET_ALLOW})

func encode(t *testing.T, p initproto.Plan) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRoot is a root filesystem for a setup: the directories init needs
// (its own binary is bound in by the plan), and the plan that pivots into
// it and starts init there, as uid 0 without a capability.
func newRoot(t *testing.T) (string, initproto.Plan) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"", "ATO", "proc"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, initproto.Plan{
		{Name: "root", Args: []string{root}},
		{Name: "bind", Args: []string{initPath, "/ATO/yargs", fmt.Sprint(unix.MS_RDONLY)}},
		{Name: "pivot"},
		{Name: "user", Args: []string{"0", "0", "0"}},
		{Name: "exec", Args: []string{"/ATO/yargs"}},
	}
}

// TestSetupRefusesPlans: a plan the setup cannot carry out whole ends it
// with why, on the status pipe, and nothing of the run starts.
func TestSetupRefusesPlans(t *testing.T) {
	root, good := newRoot(t)
	for _, c := range []struct {
		name string
		plan []byte
		want string
	}{
		{"unknown step", []byte("root\x00" + root + "\x00chroot\x00/\x00"), "unknown step chroot"},
		{"a step before the root", []byte("hostname\x00x\x00"), "step hostname before the root"},
		{"missing arguments", []byte("root\x00" + root + "\x00bind\x00/a\x00"), "step bind: 1 arguments, not 3"},
		{"not terminated", []byte("root\x00" + root), "not NUL-terminated"},
		{"no exec", encode(t, good[:3]), "the plan ends without exec"},
		{"a failing step", encode(t, append(initproto.Plan{good[0], {Name: "bind", Args: []string{"/nonexistent", "/ATO/x", "0"}}}, good[1:]...)),
			"finding /nonexistent: No such file or directory"},
		{"an id out of range", encode(t, append(good[:3:3], initproto.Op{Name: "user", Args: []string{"4294967295", "0", "0"}}, good[4])),
			"uid 4294967295: out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := startSetup(t, c.plan, allowAll)
			if !strings.Contains(r.status, c.want) || !strings.HasPrefix(r.status, "setting up the sandbox: ") {
				t.Errorf("status %q, want one saying %q", r.status, c.want)
			}
			if code := r.exitCode(t); code != 1 {
				t.Errorf("the setup exited %d, want 1", code)
			}
		})
	}
}

// TestSetupResolvesInTheRoot: the plan's paths are the sandbox's, resolved
// beneath its root, links included: a path that also exists on the host,
// and a link in the root to such a path, both land in the root.
func TestSetupResolvesInTheRoot(t *testing.T) {
	root, plan := newRoot(t)
	// The directory beside the root, by its host path; the same path in
	// the root.
	outside := filepath.Dir(root)
	if err := os.MkdirAll(filepath.Join(root, outside), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	binds := initproto.Plan{
		{Name: "bind", Args: []string{initPath, filepath.Join(outside, "by-path"), "0"}},
		{Name: "bind", Args: []string{initPath, "/out/by-link", "0"}},
	}
	r := startSetup(t, encode(t, append(append(plan[:1:1], binds...), plan[1:]...)), allowAll)
	if r.status != initproto.Ready {
		t.Fatalf("status %q, want %q", r.status, initproto.Ready)
	}
	for _, name := range []string{"by-path", "by-link"} {
		if _, err := os.Stat(filepath.Join(outside, name)); err == nil {
			t.Errorf("a mount point was made outside the root: %s", filepath.Join(outside, name))
		}
		if _, err := os.Stat(filepath.Join(root, outside, name)); err != nil {
			t.Errorf("the mount point %s is not in the root: %v", name, err)
		}
	}
}

// TestSetupLoadsSeccompOrFails: init runs only under the daemon's seccomp
// filter; a filter the kernel refuses, or that is no program, ends the
// setup before init, with why.
func TestSetupLoadsSeccompOrFails(t *testing.T) {
	_, plan := newRoot(t)
	invalid := bpf([4]uint32{0xffff, 0, 0, 0}) // no such instruction
	for _, c := range []struct {
		name   string
		filter []byte
		want   string
	}{
		{"valid", allowAll, ""},
		{"refused by the kernel", invalid, "loading the seccomp filter: Invalid argument"},
		{"no program", allowAll[:6], "6 bytes is no BPF program"},
		{"empty", nil, "0 bytes is no BPF program"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The daemon's umask is not the run's.
			old := syscall.Umask(0o077)
			r := startSetup(t, encode(t, plan), c.filter)
			syscall.Umask(old)
			if c.want != "" {
				if !strings.Contains(r.status, c.want) {
					t.Errorf("status %q, want one saying %q", r.status, c.want)
				}
				if code := r.exitCode(t); code != 1 {
					t.Errorf("the setup exited %d, want 1", code)
				}
				return
			}
			if r.status != initproto.Ready {
				t.Fatalf("status %q, want %q", r.status, initproto.Ready)
			}
			// init waits for its job: under the filter, with nothing to
			// gain on exec.
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.proc.Pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t1", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "Umask:\t0022"} {
				if !strings.Contains(string(status), want) {
					t.Errorf("init's status lacks %q:\n%s", want, status)
				}
			}
			r.job.Close() // discarded unused: init exits
			if code := r.exitCode(t); code != 0 {
				t.Errorf("init exited %d, want 0", code)
			}
		})
	}
}
