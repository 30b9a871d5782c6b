// Package e2e tests atod end to end: the real binary listening on loopback,
// real websocket clients (Go's and Node.js's), the real sandbox and the real
// language image. It needs root and the image built by scripts/setup-host.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
)

// binDir holds atod and atod-init: $ATOD_BIN_DIR (make test sets it to
// bin/), or a fresh build for this test run.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips itself (needRoot): go test reports them as
		// skipped, not passed.
		return m.Run()
	}
	binDir = os.Getenv("ATOD_BIN_DIR")
	if binDir == "" {
		dir, err := atodtest.Build("atod", "atod-init")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
	}
	defer removeSharedRegistry()
	return m.Run()
}

// e2eUIDBase is the first host uid of the daemons the tests start as root:
// $ATOD_E2E_UID_BASE, so that two test processes on one host (a developer's
// and a helper's) never share uids and see each other's runs as leftovers,
// or 2,100,000,000.
var e2eUIDBase = uidBaseFromEnv()

func uidBaseFromEnv() int {
	if s := os.Getenv("ATOD_E2E_UID_BASE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100_000 || n > 4_000_000_000 {
			panic(fmt.Sprintf("ATOD_E2E_UID_BASE=%q: want a uid from 100000 to 4000000000", s))
		}
		return n
	}
	return 2_100_000_000
}

// daemonUser is who the daemon runs as: root, or, when rootless is set, an
// unprivileged uid and gid (atod is then rootless, and every run has that
// uid on the host).
type daemonUser struct {
	rootless bool
	uid, gid int
}

// daemonUserFromEnv is the user the tests start atod as:
// $ATOD_E2E_DAEMON_UID and $ATOD_E2E_DAEMON_GID when set (scripts/vmtest
// sets them to the owner of the delegated cgroup the tests run in), root
// otherwise.
func daemonUserFromEnv(t testing.TB) daemonUser {
	t.Helper()
	atodtest.NeedRoot(t)
	u, g := os.Getenv("ATOD_E2E_DAEMON_UID"), os.Getenv("ATOD_E2E_DAEMON_GID")
	if u == "" && g == "" {
		return daemonUser{}
	}
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if uerr != nil || gerr != nil || uid <= 0 || gid <= 0 {
		t.Fatalf("ATOD_E2E_DAEMON_UID=%q and ATOD_E2E_DAEMON_GID=%q must both be set to an unprivileged uid and gid", u, g)
	}
	return daemonUser{rootless: true, uid: uid, gid: gid}
}

// credential makes a command run as the user, without supplementary groups.
func (u daemonUser) credential() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
}

// stateDir makes a state directory the user can write.
func (u daemonUser) stateDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is private to root, and runs' setup (as their
	// unprivileged host ids) and a rootless daemon must pass it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if u.rootless {
		if err := os.Chown(dir, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// daemon is a running atod serve: one a test started, or the service
// (serviceDaemon).
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd // nil for the service
	pid     int       // the process started
	user    daemonUser
	addr    string
	state   string
	cgroup  string
	slots   int
	logMu   sync.Mutex
	log     strings.Builder
	logDone chan struct{}
	exited  chan struct{}
	exitErr error
}

// daemonOptions change how startDaemon starts atod.
type daemonOptions struct {
	state  string   // reuse a state directory (default: a new one)
	cgroup string   // reuse a cgroup parent name (default: a new one)
	env    []string // extra environment of the daemon
	args   []string // extra flags
	slots  int      // --concurrency (default 4)
	bin    string   // the directory of the atod to start (default: binDir)
	// tty, if set, is a terminal's end that atod gets as its stdin and
	// controlling terminal, in a session of its own.
	tty *os.File
	// wrap is a command that execs its arguments, atod's command line,
	// after preparing something (a mount of its own, say); the process
	// started stays atod's.
	wrap []string
}

// startDaemon starts atod serve on a free loopback port with its own state
// directory and cgroup parent, and stops it at the end of the test. It runs
// as daemonUserFromEnv: root, or rootless as an unprivileged user.
func startDaemon(t testing.TB, o daemonOptions) *daemon {
	t.Helper()
	user := daemonUserFromEnv(t)
	if d := serviceDaemon(t, user, o); d != nil {
		return d
	}
	if o.state == "" {
		o.state = user.stateDir(t)
	}
	if o.cgroup == "" {
		o.cgroup = "atod-e2e-" + randomHex(4)
	}
	if o.slots == 0 {
		o.slots = 4
	}
	d := &daemon{t: t, user: user, state: o.state, cgroup: o.cgroup, slots: o.slots, logDone: make(chan struct{}), exited: make(chan struct{})}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--state", o.state, "--cgroup-name", o.cgroup,
		"--concurrency", fmt.Sprint(d.slots), "--log-format", "json",
		// A test that ends with a run in flight (a failed one, say) must
		// not wait for the drain's default 70 s at its cleanup's SIGTERM.
		"--drain-seconds", fmt.Sprint(scaledTimeout(5))}
	if !user.rootless {
		args = append(args, "--uid-base", fmt.Sprint(e2eUIDBase))
	}
	if img := os.Getenv("ATOD_IMAGES"); img != "" {
		args = append(args, "--images", img)
	}
	args = append(args, o.args...)
	if o.bin == "" {
		o.bin = binDir
	}
	argv := append(append(slices.Clone(o.wrap), filepath.Join(o.bin, "atod")), args...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = append(os.Environ(), o.env...)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{}
	if user.rootless {
		d.cmd.SysProcAttr = user.credential()
	}
	if o.tty != nil {
		d.cmd.Stdin = o.tty
		d.cmd.SysProcAttr.Setsid, d.cmd.SysProcAttr.Setctty, d.cmd.SysProcAttr.Ctty = true, true, 0
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pid = d.cmd.Process.Pid
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.exited)
	}()
	addr := make(chan string, 1)
	go func() {
		defer close(d.logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.logMu.Lock()
			d.log.WriteString(line + "\n")
			d.logMu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case d.addr = <-addr:
	case <-d.exited:
		<-d.logDone
		t.Fatalf("atod exited at startup: %v\n%s", d.exitErr, d.logs())
	case <-time.After(timescale.D(30 * time.Second)):
		d.kill()
		t.Fatalf("atod did not start listening within %v:\n%s", timescale.D(30*time.Second), d.logs())
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs())
		}
	})
	return d
}

// serviceDaemon is the daemon a service manager started, when
// $ATOD_E2E_SERVICE names it ("ADDR PID STATE": its listening address, its
// main process and its state directory; scripts/vmtest-guest's systemd
// stage sets it), for the tests that start a daemon with the defaults: a
// test that needs a daemon of its own (other flags, a restart) is skipped.
// Nil when $ATOD_E2E_SERVICE is not set.
func serviceDaemon(t testing.TB, user daemonUser, o daemonOptions) *daemon {
	t.Helper()
	spec := os.Getenv("ATOD_E2E_SERVICE")
	if spec == "" {
		return nil
	}
	if o.state != "" || o.cgroup != "" || o.env != nil || o.args != nil || o.slots != 0 || o.bin != "" || o.wrap != nil || o.tty != nil {
		t.Skip("needs a daemon of its own, not the service ($ATOD_E2E_SERVICE)")
	}
	var addr, state string
	var pid int
	if n, err := fmt.Sscanf(spec, "%s %d %s", &addr, &pid, &state); err != nil || n != 3 {
		t.Fatalf("ATOD_E2E_SERVICE=%q: want \"ADDR PID STATE\"", spec)
	}
	d := &daemon{t: t, user: user, addr: addr, pid: pid, state: state, slots: 8, logDone: make(chan struct{}), exited: make(chan struct{})}
	close(d.logDone)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the service's process %d: %v", pid, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", d.logs())
		}
	})
	return d
}

// serviceLogs is the journal of the service's unit.
func (d *daemon) serviceLogs() string {
	out, err := exec.Command("journalctl", "--no-pager", "-o", "cat", "-u", serviceUnit).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(the service's journal: %v)\n%s", err, out)
	}
	return string(out)
}

func (d *daemon) logs() string {
	if d.cmd == nil {
		return d.serviceLogs()
	}
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

// stop ends the daemon with SIGTERM, as systemd does.
func (d *daemon) stop() {
	if d.cmd == nil {
		return // the service manager's to stop
	}
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(timescale.D(15 * time.Second)):
		d.t.Errorf("atod did not stop within %v of SIGTERM", timescale.D(15*time.Second))
		d.kill()
	}
	<-d.logDone
}

// kill ends the daemon with SIGKILL and waits for it.
func (d *daemon) kill() {
	if d.cmd == nil {
		d.t.Fatal("the service is not the test's to kill")
	}
	d.cmd.Process.Kill()
	<-d.exited
	<-d.logDone
}

func (d *daemon) url(path string) string { return "ws://" + d.addr + path }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// servingPID is the process that serves: the one started, or the copy of
// itself it re-executes in a namespace of its own.
func (d *daemon) servingPID(t testing.TB) int {
	t.Helper()
	if c := leftovers.DaemonCopy(d.pid); c != 0 {
		return c
	}
	return d.pid
}

// rssKiB is the resident memory of process pid.
func rssKiB(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kib int64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kib)
			return kib
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

var _ = context.Background
