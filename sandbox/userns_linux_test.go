package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
)

// TestForwardedSignals: runInstead passes on every signal it watches but a
// terminal's interrupt and quit while its group is the terminal's
// foreground group, which has had them already.
func TestForwardedSignals(t *testing.T) {
	for _, c := range []struct {
		sig        syscall.Signal
		foreground bool
		want       bool
	}{
		{syscall.SIGINT, true, false}, {syscall.SIGQUIT, true, false},
		{syscall.SIGINT, false, true}, {syscall.SIGQUIT, false, true},
		{syscall.SIGTERM, true, true}, {syscall.SIGHUP, true, true}, {syscall.SIGUSR1, true, true},
	} {
		if got := forwarded(c.sig, func() bool { return c.foreground }); got != c.want {
			t.Errorf("forwarded(%v) in the foreground %v: %v, want %v", c.sig, c.foreground, got, c.want)
		}
	}
}

// TestInForegroundGroup: a process is in its terminal's foreground group
// when it leads a session with the terminal as its controlling terminal,
// and not in a group of its own in that session, nor without a terminal.
func TestInForegroundGroup(t *testing.T) {
	if os.Getenv("ATOD_TEST_FOREGROUND") != "" {
		fmt.Printf("foreground=%v\n", inForegroundGroup())
		return
	}
	_, tty := atodtest.OpenPTY(t)
	for _, c := range []struct {
		name string
		attr *syscall.SysProcAttr
		want string
	}{
		{"session leader on the terminal", &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}, "foreground=true"},
		{"no controlling terminal", &syscall.SysProcAttr{Setsid: true}, "foreground=false"},
		// A group of its own in the session of the test process, whose
		// terminal (if any) has another foreground group.
		{"a background group", &syscall.SysProcAttr{Setpgid: true}, "foreground=false"},
	} {
		cmd := exec.Command("/proc/self/exe", "-test.run=^TestInForegroundGroup$")
		cmd.Env = append(os.Environ(), "ATOD_TEST_FOREGROUND=1")
		cmd.Stdin, cmd.SysProcAttr = tty, c.attr
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v %s, want %s", c.name, err, out, c.want)
		}
	}
}
