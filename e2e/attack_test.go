package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
)

// attackDir holds the attack suite's probes: one program a file, in a
// directory per category (testdata/attacks/README.md describes the format).
const attackDir = "testdata/attacks"

// attackMemory is the memory limit of the suite's runs: half the default,
// so that the probes that fill it take half the time.
const attackMemory = 256 << 20

// attackRoot is what the suite's runs may write into their root: less than
// their memory, so that filling it meets its own cap, not the OOM killer.
const attackRoot = 128 << 20

// probe is one hostile program of the attack suite and what its
// containment looks like, as its header says.
type probe struct {
	category, name string
	language       string
	code           string
	attack         string   // what it tries
	lanes          []string // host, v2, rootless
	status         []string // allowed statuses, "exited/0"; "any" for any
	timedOut       string   // "no", "yes" or "any"
	timeout        int      // seconds
	contained      int      // CONTAINED lines it must print
	hold           bool     // prints HOLD and waits: the test checks the host, then kills it
	orKilled       bool     // the daemon may kill it (killed/9) before its verdict: that is containment too
	options        []string // the request's options (compiler flags)
	knownFailure   string   // why it is known to escape (it still fails the test)
}

var headerLine = regexp.MustCompile(`^(?:#|//) @([a-z-]+):\s*(.*?)\s*$`)

// languageOf maps a probe's file extension to its language.
var languageOf = map[string]string{".sh": "bash", ".py": "python", ".c": "c_gcc"}

// loadProbes reads every probe of the suite and checks its header.
func loadProbes(t *testing.T) []probe {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(attackDir, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var probes []probe
	for _, f := range files {
		lang, ok := languageOf[filepath.Ext(f)]
		if !ok {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := probe{
			category: filepath.Base(filepath.Dir(f)),
			name:     strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)),
			language: lang, code: string(b),
			status: []string{"exited/0"}, timedOut: "no", timeout: scaledTimeout(10), contained: 1,
		}
		seen := map[string]bool{}
		for _, line := range strings.Split(p.code, "\n") {
			m := headerLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			key, val := m[1], m[2]
			seen[key] = true
			switch key {
			case "attack":
				p.attack = val
			case "language":
				if val != lang {
					t.Fatalf("%s: @language %s, but its extension says %s", f, val, lang)
				}
			case "lanes":
				p.lanes = strings.Fields(strings.ReplaceAll(val, ",", " "))
			case "status":
				p.status = strings.Split(val, "|")
			case "timed-out":
				p.timedOut = val
			case "timeout":
				p.timeout, err = strconv.Atoi(val)
			case "contained":
				p.contained, err = strconv.Atoi(val)
			case "hold":
				p.hold = val == "yes"
			case "or-killed":
				p.orKilled = val == "yes"
			case "options":
				p.options = strings.Fields(val)
			case "known-failure":
				p.knownFailure = val
			default:
				t.Fatalf("%s: unknown header key @%s", f, key)
			}
			if err != nil {
				t.Fatalf("%s: @%s: %v", f, key, err)
			}
		}
		for _, k := range []string{"attack", "language", "lanes", "contained"} {
			if !seen[k] {
				t.Fatalf("%s: no @%s in its header", f, k)
			}
		}
		if !slices.Contains(p.lanes, "host") {
			t.Fatalf("%s: @lanes %v lacks host: every probe runs on the host", f, p.lanes)
		}
		if p.hold {
			p.status, p.timedOut = []string{"killed/9"}, "no"
		}
		if p.timedOut != "no" && p.timedOut != "yes" && p.timedOut != "any" {
			t.Fatalf("%s: @timed-out %q", f, p.timedOut)
		}
		probes = append(probes, p)
	}
	return probes
}

// host is what the suite plants on the host for probes to reach for: a
// canary file, a canary process, listeners on loopback and on unix
// sockets, and a secret in the daemon's environment.
type host struct {
	user        daemonUser
	dir         string // the canary's directory
	canaryFile  string
	canaryBody  []byte
	canaryStat  syscall.Stat_t
	canary      *exec.Cmd
	canaryPID   int
	canaryStart string // its start time, /proc/PID/stat field 22
	canaryToken string // in the canary process's environment
	secret      string // in the daemon's environment
	port        int
	abstract    string // an abstract unix socket's name, without the @
	unixPath    string
	udp         *net.UDPConn
	listeners   []listener
	hostname    string
	sysvipc     string   // the host's System V IPC objects and POSIX queues
	forbidden   []string // strings no probe's output may hold
}

// listener is one of the test's sockets on the host that no run may
// reach. Nothing reads it while a probe runs: hostHarm drains it right
// after, so that what a probe sent is judged with that probe.
type listener struct {
	sock   syscall.Conn // a *net.TCPListener, *net.UnixListener or *net.UDPConn
	stream bool
	what   string
}

// drain takes what waits on l without blocking: the connections in its
// accept queue, or the datagrams in its receive queue. (A Go deadline in
// the past would not do: Go then fails without trying the socket.)
func (l listener) drain() ([]string, error) {
	rc, err := l.sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	var got []string
	var opErr error
	buf := make([]byte, 2048)
	err = rc.Control(func(fd uintptr) {
		for {
			var from unix.Sockaddr
			var err error
			if l.stream {
				var c int
				// The listener is non-blocking: EAGAIN once its queue is empty.
				c, from, err = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
				if err == nil {
					unix.Close(c)
				}
			} else {
				_, from, err = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			}
			switch err {
			case nil:
				got = append(got, fmt.Sprintf("%s got a connection or datagram from %s", l.what, sockaddrString(from)))
			case unix.EINTR, unix.ECONNABORTED:
			case unix.EAGAIN:
				return
			default:
				opErr = err
				return
			}
		}
	})
	if err == nil {
		err = opErr
	}
	return got, err
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%v:%d", net.IP(a.Addr[:]), a.Port)
	case *unix.SockaddrInet6:
		return fmt.Sprintf("[%v]:%d", net.IP(a.Addr[:]), a.Port)
	case *unix.SockaddrUnix:
		if a.Name == "" || a.Name == "@" {
			return "an unnamed unix socket"
		}
		return fmt.Sprintf("unix %q", a.Name)
	}
	return fmt.Sprintf("%T", sa)
}

// listen adds l to the listeners hostHarm drains.
func (h *host) listen(t *testing.T, l net.Listener, what string) {
	t.Cleanup(func() { l.Close() })
	h.listeners = append(h.listeners, listener{sock: l.(syscall.Conn), stream: true, what: what})
}

// startCanary starts the canary process: a sleep with the canary's token in
// its environment, as the daemon's user when rootless.
func (h *host) startCanary() error {
	cmd := exec.Command("sleep", "100000")
	cmd.Env = []string{"ATOD_CANARY=" + h.canaryToken}
	if h.user.rootless {
		cmd.SysProcAttr = h.user.credential()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the canary process: %w", err)
	}
	h.canary, h.canaryPID = cmd, cmd.Process.Pid
	h.canaryStart = startTime(h.canaryPID)
	return nil
}

func (h *host) stopCanary() {
	h.canary.Process.Kill()
	h.canary.Wait()
}

// plantHost sets up the canaries. In a rootless lane the canary process
// runs as the daemon's user, which is its runs' uid on the host: only
// isolation, not permissions, keeps them from it.
func plantHost(t *testing.T, user daemonUser) *host {
	t.Helper()
	h := &host{
		user:        user,
		dir:         t.TempDir(),
		canaryToken: "atod-canary-" + randomHex(8),
		secret:      "atod-attack-secret-" + randomHex(8),
		abstract:    "atod-attack-" + randomHex(6),
	}
	// Everything here is open to anyone: permissions must not be what
	// keeps a run out.
	for _, d := range []string{h.dir, filepath.Dir(h.dir)} {
		if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
	}
	h.canaryFile = filepath.Join(h.dir, "canary")
	h.canaryBody = []byte(h.canaryToken + "\n")
	if err := os.WriteFile(h.canaryFile, h.canaryBody, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.canaryFile, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(h.canaryFile, &h.canaryStat); err != nil {
		t.Fatal(err)
	}

	if err := h.startCanary(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stopCanary) // whichever canary is the current one then

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = tcp.Addr().(*net.TCPAddr).Port
	h.listen(t, tcp, "the host's TCP listener on 127.0.0.1")
	abs, err := net.Listen("unix", "@"+h.abstract)
	if err != nil {
		t.Fatal(err)
	}
	h.listen(t, abs, "the host's abstract unix socket @"+h.abstract)
	h.unixPath = filepath.Join(h.dir, "sock")
	us, err := net.Listen("unix", h.unixPath)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(h.unixPath, 0o777)
	h.listen(t, us, "the host's unix socket "+h.unixPath)

	h.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.udp.Close() })
	h.listeners = append(h.listeners, listener{sock: h.udp, what: "the host's UDP socket on 127.0.0.1"})
	h.hostname, _ = os.Hostname()
	h.sysvipc = hostIPC()

	h.forbidden = []string{h.canaryToken, h.secret}
	return h
}

// startTime is field 22 of /proc/PID/stat, which tells a process from a
// later one with its pid; "" when it is gone or a zombie.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// hostHarm lists what a probe did to the host's canaries.
func (h *host) hostHarm() []string {
	var harm []string
	b, err := os.ReadFile(h.canaryFile)
	var st syscall.Stat_t
	if err == nil {
		err = syscall.Stat(h.canaryFile, &st)
	}
	switch {
	case err != nil:
		harm = append(harm, fmt.Sprintf("the canary file: %v", err))
	case !bytes.Equal(b, h.canaryBody):
		harm = append(harm, fmt.Sprintf("the canary file now holds %q", b))
	case st.Mode != h.canaryStat.Mode || st.Uid != h.canaryStat.Uid || st.Gid != h.canaryStat.Gid ||
		st.Mtim != h.canaryStat.Mtim || st.Ctim != h.canaryStat.Ctim || st.Nlink != h.canaryStat.Nlink:
		harm = append(harm, "the canary file's inode changed (mode, owner, times or links)")
	}
	entries, _ := os.ReadDir(h.dir)
	for _, e := range entries {
		if e.Name() != "canary" && e.Name() != "sock" {
			harm = append(harm, "a new file in the canary's directory: "+e.Name())
			os.RemoveAll(filepath.Join(h.dir, e.Name()))
		}
	}
	if len(harm) > 0 {
		// Put the canary back, so that the next probe is judged on its own.
		os.Remove(h.canaryFile)
		os.WriteFile(h.canaryFile, h.canaryBody, 0o666)
		os.Chmod(h.canaryFile, 0o666)
		syscall.Stat(h.canaryFile, &h.canaryStat)
	}
	if startTime(h.canaryPID) != h.canaryStart {
		harm = append(harm, fmt.Sprintf("the canary process %d is gone", h.canaryPID))
		// A new one, so that the next probe is judged on its own.
		h.stopCanary()
		if err := h.startCanary(); err != nil {
			harm = append(harm, err.Error())
		}
	}
	if name, _ := os.Hostname(); name != h.hostname {
		harm = append(harm, fmt.Sprintf("the host's name is now %q", name))
	}
	if ipc := hostIPC(); ipc != h.sysvipc {
		harm = append(harm, fmt.Sprintf("the host's IPC objects changed:\n%s", ipc))
	}
	for _, l := range h.listeners {
		got, err := l.drain()
		if err != nil {
			harm = append(harm, fmt.Sprintf("draining %s: %v", l.what, err))
		}
		harm = append(harm, got...)
	}
	return harm
}

// hostIPC lists the System V IPC objects and POSIX message queues of the
// host's IPC namespace.
func hostIPC() string {
	var b strings.Builder
	for _, f := range []string{"/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"} {
		lines, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(lines), "\n")[1:] {
			if fs := strings.Fields(l); len(fs) > 1 {
				b.WriteString(f + " " + fs[1] + "\n") // the object's id
			}
		}
	}
	if mq, err := os.ReadDir("/dev/mqueue"); err == nil {
		for _, e := range mq {
			b.WriteString("mqueue " + e.Name() + "\n")
		}
	}
	return b.String()
}

// pools are the host-wide kernel pools a run could take from.
type pools struct {
	aio, files, memAvailable int64 // aio-nr, allocated file handles, MemAvailable in bytes
}

func readPools(t *testing.T) pools {
	t.Helper()
	var p pools
	readInt := func(path string) int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	p.aio = readInt("/proc/sys/fs/aio-nr")
	p.files = readInt("/proc/sys/fs/file-nr")
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kib, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			p.memAvailable = kib << 10
		}
	}
	return p
}

// hostCanStillUse tries, as the calling process's user, the per-user and
// host-wide budgets that runs were found to exhaust (issue 10): an AIO
// context, an inotify instance, a message queue, a queued signal, an epoll
// watch.
func hostCanStillUse() []string {
	var failed []string
	var ctx uint64
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		failed = append(failed, fmt.Sprintf("io_setup(1): %v", e))
	} else {
		unix.Syscall(unix.SYS_IO_DESTROY, uintptr(ctx), 0, 0)
	}
	if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC); err != nil {
		failed = append(failed, fmt.Sprintf("inotify_init1: %v", err))
	} else {
		unix.Close(fd)
	}
	if ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		failed = append(failed, fmt.Sprintf("epoll_create1: %v", err))
	} else {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			failed = append(failed, fmt.Sprintf("pipe2: %v", err))
		} else {
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
				failed = append(failed, fmt.Sprintf("epoll_ctl ADD: %v", err))
			}
			unix.Close(p[0])
			unix.Close(p[1])
		}
		unix.Close(ep)
	}
	name := "atod-attack-" + randomHex(4)
	p, _ := unix.BytePtrFromString(name)
	attr := [8]int64{0, 1, 64} // flags, maxmsg, msgsize
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		failed = append(failed, fmt.Sprintf("mq_open: %v", e))
	} else {
		unix.Close(int(fd))
		unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	}
	// A queued signal to itself, charged to its user's RLIMIT_SIGPENDING
	// (EAGAIN when a run took it all). A real-time signal the Go runtime
	// takes and ignores, since nothing asked for it.
	info := unix.Siginfo{Signo: int32(queuedSignal), Code: -1 /* SI_QUEUE */}
	pid := unix.Getpid()
	if _, _, e := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(queuedSignal), uintptr(unsafe.Pointer(&info))); e != 0 {
		failed = append(failed, fmt.Sprintf("rt_sigqueueinfo: %v", e))
	}
	return failed
}

// queuedSignal is the signal hostCanStillUse queues: real-time, and not
// one the C library keeps for itself (32 and 33).
const queuedSignal = unix.Signal(40)

// poolCheckEnv, set to 1, with poolCheckArg as the only argument, makes the
// test binary run hostCanStillUse, print what failed one a line, and exit:
// the pool check as another user. Both are asked for, so that a stray
// variable never turns a test run into a silent pass.
const (
	poolCheckEnv = "ATOD_ATTACK_POOL_CHECK"
	poolCheckArg = "atod-attack-pool-check"
)

func init() {
	if os.Getenv(poolCheckEnv) != "1" || len(os.Args) != 2 || os.Args[1] != poolCheckArg {
		return
	}
	for _, f := range hostCanStillUse() {
		fmt.Println(f)
	}
	os.Exit(0)
}

// poolChecker tries the per-user pools as the daemon's user, whom runs
// charge: in this process when that is root, else in a copy of this test
// binary run as the rootless daemon's user (root's pools would prove
// nothing there).
type poolChecker struct {
	exe  string // the copy; "" when the daemon runs as root
	user daemonUser
}

func newPoolChecker(t *testing.T, user daemonUser) poolChecker {
	t.Helper()
	if !user.rootless {
		return poolChecker{}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is root's alone. The copy's parent
	// is the test's, open to anyone as plantHost leaves it.
	dir := t.TempDir()
	for d, mode := range map[string]os.FileMode{dir: 0o755, filepath.Dir(dir): 0o777 | os.ModeSticky} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "pool-check")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	pc := poolChecker{exe: exe, user: user}
	if f := pc.failures(); len(f) > 0 {
		t.Fatalf("before the suite, %s cannot %s", pc.who(), strings.Join(f, "; "))
	}
	return pc
}

// who names whose pools pc tries.
func (pc poolChecker) who() string {
	if pc.exe == "" {
		return "host root"
	}
	return fmt.Sprintf("the daemon's user %d", pc.user.uid)
}

// failures lists the pools pc's user can no longer take from.
func (pc poolChecker) failures() []string {
	if pc.exe == "" {
		return hostCanStillUse()
	}
	cmd := exec.Command(pc.exe, poolCheckArg)
	cmd.Env = []string{poolCheckEnv + "=1"}
	cmd.SysProcAttr = pc.user.credential()
	out, err := cmd.Output()
	if err != nil {
		return []string{fmt.Sprintf("run the pool check (%s): %v", pc.exe, err)}
	}
	var failed []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			failed = append(failed, l)
		}
	}
	return failed
}

// assertNoLeftoversBut is assertNoLeftovers, but for the canary process:
// rootless, it runs as the daemon's user, as the runs do.
func assertNoLeftoversBut(t *testing.T, d *daemon, canary int) {
	t.Helper()
	var found []string
	for deadline := time.Now().Add(timescale.D(2 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		all, err := leftovers.Find(d.scope())
		if err != nil {
			t.Fatal(err)
		}
		found = slices.DeleteFunc(all, func(f string) bool { return strings.HasPrefix(f, fmt.Sprintf("process %d ", canary)) })
		if len(found) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, f := range found {
		t.Errorf("left behind: %s", f)
	}
}

// probeResult is how one probe ended.
type probeResult struct {
	stdout, stderr []byte
	statusType     string
	statusValue    int
	timedOut       bool
	held           bool
	oomKilled      bool // the daemon logged the run as killed for its memory
	elapsed        time.Duration
}

// oomKills counts the runs that the daemon's log says its memory limit
// killed (server: its "request" line with oom_killed; the v1 websocket's Done
// does not carry it).
func oomKills(d *daemon) int {
	return strings.Count(d.logs(), `"oom_killed":true`)
}

// runProbe runs p's code on a v1 connection. When p holds, the test checks
// the host as soon as p prints HOLD, and then kills the run.
func runProbe(t *testing.T, d *daemon, pc poolChecker, p probe, code string, base pools) probeResult {
	t.Helper()
	c := dialV1(t, d)
	start := time.Now()
	// A slow machine (the VM lane) compiles and runs more slowly, but a
	// run's timeout is at most 60 s.
	timeout := scaledTimeout(p.timeout)
	kills := oomKills(d)
	c.send(job{language: p.language, code: code, options: p.options, timeout: timeout}.encode(t))
	var r probeResult
	for {
		f, err := c.next()
		if err != nil {
			t.Fatalf("reading: %v (stdout so far %q)", err, r.stdout)
		}
		switch f.stream {
		case "Stdout":
			r.stdout = append(r.stdout, f.data...)
			if p.hold && !r.held && holdLine.Match(r.stdout) {
				r.held = true
				checkWhileHeld(t, d, pc, p, base)
				c.kill()
			}
			continue
		case "Stderr":
			r.stderr = append(r.stderr, f.data...)
			continue
		}
		r.statusType, r.statusValue, r.timedOut = f.done.StatusType, f.done.StatusValue, f.done.TimedOut
		r.elapsed = time.Since(start)
		if p.orKilled && !r.held && r.statusType == "killed" {
			// The log line is written before the answer is sent, but
			// read from the daemon's stderr on its own.
			for deadline := time.Now().Add(timescale.D(5 * time.Second)); oomKills(d) <= kills && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			r.oomKilled = oomKills(d) > kills
		}
		return r
	}
}

// checkWhileHeld checks the host's pools while a probe holds what it could
// take of them: its share must stay within what one of the daemon's runs
// may have, and the daemon's user can still use each pool.
func checkWhileHeld(t *testing.T, d *daemon, pc poolChecker, p probe, base pools) {
	t.Helper()
	now := readPools(t)
	fileMax := fileMaxOf(t)
	// A run's share of the host-wide pools: 1/(2*slots), all runs together
	// at most half (sandbox.openFilesLimit, perUserShares).
	share := func(total int64) int64 { return total / int64(2*d.slots) }
	var aioMax int64
	if b, err := os.ReadFile("/proc/sys/fs/aio-max-nr"); err == nil {
		aioMax, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if got := now.aio - base.aio; got > share(aioMax) {
		t.Errorf("while %s held: the run took %d of the host's %d AIO events, more than its share %d", p.name, got, aioMax, share(aioMax))
	}
	// The probes count what they take exactly; file-nr also moves with the
	// rest of the host, hence a little slack here.
	if got := now.files - base.files; got > share(fileMax)+share(fileMax)/20 {
		t.Errorf("while %s held: the run held %d of the host's %d file handles, more than its share %d", p.name, got, fileMax, share(fileMax))
	}
	// Memory: the run's limit, and as much again for what the kernel
	// charges to no cgroup (the first socket buffer of each connection,
	// page tables, ...) and for the rest of the machine's noise.
	if got := base.memAvailable - now.memAvailable; got > 2*attackMemory {
		t.Errorf("while %s held: the host's available memory fell by %d MiB; a run's limit is %d MiB", p.name, got>>20, attackMemory>>20)
	}
	for _, f := range pc.failures() {
		t.Errorf("while %s held: %s cannot %s", p.name, pc.who(), f)
	}
	t.Logf("while held: aio %+d, file handles %+d, available memory %+d MiB",
		now.aio-base.aio, now.files-base.files, (now.memAvailable-base.memAvailable)>>20)
}

// shares are what one run of a daemon with slots runs may take of the
// host-wide pools and of the daemon's user's per-user budgets: 1/(2*slots)
// each, so that all runs together leave the host at least half
// (sandbox.openFilesLimit and perUserShares; issue 10). Epoll watches are
// counted per host user: a rootless daemon's runs share its user's, so each
// may take 1/(2*slots) of them; a root daemon gives each slot a uid of its
// own, and there a run's memory is its bound: no more watches than it holds
// at the least a watch is charged (sandbox.epollWatchBytes, 128 bytes), and
// never more than half the count, so that even a run that had host root's
// uid would leave root half.
type shares struct {
	files, aio, mq, sigpending, inotify, epoll int64
}

func runShares(t *testing.T, slots int, rootless bool, memoryBytes int64) shares {
	t.Helper()
	div := int64(2 * slots)
	readInt := func(path string) int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	// The daemon's user's limits are this process's: the daemon inherits
	// them, root or rootless; unlimited ones stand for the kernel's
	// defaults, as the sandbox takes them.
	rlimit := func(resource int, unlimited int64) int64 {
		var l unix.Rlimit
		if err := unix.Getrlimit(resource, &l); err != nil {
			t.Fatal(err)
		}
		if l.Cur == unix.RLIM_INFINITY {
			return unlimited
		}
		return int64(l.Cur)
	}
	epoll := readInt("/proc/sys/fs/epoll/max_user_watches")
	if rootless {
		epoll /= div
	} else {
		epoll = min(epoll/2, memoryBytes/128)
	}
	return shares{
		files:      readInt("/proc/sys/fs/file-max") / div,
		aio:        readInt("/proc/sys/fs/aio-max-nr") / div,
		mq:         rlimit(unix.RLIMIT_MSGQUEUE, 819200) / div,
		sigpending: rlimit(unix.RLIMIT_SIGPENDING, 65536) / div,
		inotify:    readInt("/proc/sys/fs/inotify/max_user_instances") / div,
		epoll:      epoll,
	}
}

// hostAddrs are the host's addresses other than loopback.
func hostAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	return out
}

func fileMaxOf(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/sys/fs/file-max")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

var (
	verdictLine = regexp.MustCompile(`(?m)^(CONTAINED|ESCAPED)\b ?(.*)$`)
	holdLine    = regexp.MustCompile(`(?m)^HOLD\b`)
	placeholder = regexp.MustCompile(`@@[A-Z_]+@@`)
)

// judge checks what p printed and how it ended.
func judge(t *testing.T, p probe, r probeResult) {
	t.Helper()
	var contained []string
	for _, out := range [][]byte{r.stdout, r.stderr} {
		for _, m := range verdictLine.FindAllSubmatch(out, -1) {
			if string(m[1]) == "ESCAPED" {
				t.Errorf("ESCAPED %s", m[2])
			} else {
				contained = append(contained, string(m[2]))
			}
		}
	}
	st := fmt.Sprintf("%s/%d", r.statusType, r.statusValue)
	if p.orKilled && st == "killed/9" && !r.timedOut && !r.held && len(contained) == 0 {
		if !r.oomKilled {
			t.Errorf("killed/9 before its verdict, but the daemon did not log the run as killed for its memory")
		}
		return // the daemon killed it before it could say what it took
	}
	if len(contained) != p.contained {
		t.Errorf("%d CONTAINED lines, want %d: %q", len(contained), p.contained, contained)
	}
	if !slices.Contains(p.status, "any") && !slices.Contains(p.status, st) {
		t.Errorf("status %s, want %s", st, strings.Join(p.status, " or "))
	}
	if p.timedOut != "any" && r.timedOut != (p.timedOut == "yes") {
		t.Errorf("timed out %v, want %s", r.timedOut, p.timedOut)
	}
	if p.hold && !r.held {
		t.Errorf("the probe never printed HOLD")
	}
	if len(r.stdout) > 128<<10 || len(r.stderr) > 128<<10 {
		t.Errorf("%d bytes of stdout and %d of stderr, past the 128 KiB caps", len(r.stdout), len(r.stderr))
	}
}

// daemonHealth is what the suite watches of the daemon itself. Its
// descriptors leave out what comes and goes with the pool, not with what
// runs leave: those of the sandboxes prepared ahead (fdsPerPrepared each;
// how many the pool keeps follows demand) and the user namespaces that
// idmap an image for a slot (one per slot and image user, made when first
// needed and kept).
type daemonHealth struct {
	fds    int
	rssKiB int64
}

// fdsPerPrepared is what the daemon holds of a sandbox prepared ahead: its
// output and report pipes' ends (3), its job pipe's end, its process's
// pidfd, the lease file of its image's tree and, on cgroup v1,
// its socket buffer counter.
func fdsPerPrepared() int {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2
		return 6
	}
	return 7
}

func healthOf(t *testing.T, d *daemon) daemonHealth {
	t.Helper()
	pid := d.servingPID(t)
	targets := fdTargets(t, pid)
	fds := len(targets) - fdsPerPrepared()*len(d.poolMembers(t))
	for _, target := range targets {
		if strings.Contains(target, " user:[") {
			fds--
		}
	}
	return daemonHealth{fds: fds, rssKiB: rssKiB(t, pid)}
}

// answers reports whether d still answers a metadata request.
func answers(d *daemon) error {
	c := http.Client{Timeout: timescale.D(10 * time.Second)}
	resp, err := c.Get("http://" + d.addr + "/api/v1/metadata")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("metadata: %s", resp.Status)
	}
	return nil
}

// wantedLanes is $ATOD_ATTACK_LANES: the lanes whose probes run (the VM's
// suites name theirs), or every probe when unset.
func wantedLanes() []string {
	return strings.Fields(strings.ReplaceAll(os.Getenv("ATOD_ATTACK_LANES"), ",", " "))
}

// TestAttacks runs the attack suite (testdata/attacks) against one daemon,
// one probe at a time, and judges each by its own verdict lines, its status,
// and the host right after it: the canaries, the listeners, leftovers, the
// daemon's descriptors, memory and answers.
func TestAttacks(t *testing.T) {
	atodtest.NeedRoot(t)
	probes := loadProbes(t)
	if len(probes) == 0 {
		t.Fatal("no probes")
	}
	user := daemonUserFromEnv(t)
	h := plantHost(t, user)
	d := startDaemon(t, daemonOptions{
		env:  []string{"ATOD_ATTACK_SECRET=" + h.secret},
		args: []string{"--memory-mib", fmt.Sprint(attackMemory >> 20), "--root-mib", fmt.Sprint(attackRoot >> 20)},
	})
	lanes := wantedLanes()
	_, daemonPort, _ := net.SplitHostPort(d.addr)
	images := atodtest.ImageStore()
	runShare := runShares(t, d.slots, user.rootless, attackMemory)
	daemonPID := d.servingPID(t)
	hostAddresses := strings.Join(hostAddrs(t), " ")
	pools := newPoolChecker(t, user)
	// Made anew for each probe: the canary process may have been replaced.
	substitution := func() *strings.Replacer {
		return strings.NewReplacer(
			"@@CANARY_FILE@@", h.canaryFile,
			"@@CANARY_DIR@@", h.dir,
			"@@CANARY_PID@@", strconv.Itoa(h.canaryPID),
			"@@HOST_PORT@@", strconv.Itoa(h.port),
			"@@HOST_ABSTRACT@@", h.abstract,
			"@@HOST_UNIX@@", h.unixPath,
			"@@STATE_DIR@@", d.state,
			"@@BIN_DIR@@", binDir,
			"@@SLOTS@@", strconv.Itoa(d.slots),
			"@@MEMORY_BYTES@@", strconv.Itoa(attackMemory),
			"@@ROOT_BYTES@@", strconv.Itoa(attackRoot),
			"@@DAEMON_PID@@", strconv.Itoa(daemonPID),
			"@@DAEMON_PORT@@", daemonPort,
			"@@HOST_UDP_PORT@@", strconv.Itoa(h.udp.LocalAddr().(*net.UDPAddr).Port),
			"@@HOST_ADDRS@@", hostAddresses,
			"@@IMAGES@@", images,
			"@@CGROUP_NAME@@", d.cgroup,
			"@@FILE_SHARE@@", fmt.Sprint(runShare.files),
			"@@AIO_SHARE@@", fmt.Sprint(runShare.aio),
			"@@MQ_SHARE@@", fmt.Sprint(runShare.mq),
			"@@SIGPENDING_SHARE@@", fmt.Sprint(runShare.sigpending),
			"@@INOTIFY_SHARE@@", fmt.Sprint(runShare.inotify),
			"@@EPOLL_SHARE@@", fmt.Sprint(runShare.epoll),
		)
	}
	// A warm-up run, so that the daemon's own memory and descriptors have
	// their working size before the baseline.
	if r := execute(t, d, job{language: "bash", code: "echo warm", timeout: scaledTimeout(10)}); string(r.Stdout) != "warm\n" {
		t.Fatalf("warm-up run: %s %q %q", status(r), r.Stdout, r.Stderr)
	}
	baseHealth := healthOf(t, d)
	peak := baseHealth

	type tally struct{ probes, contained int }
	tallies := map[string]*tally{}
	var escaped []string
	start := time.Now()
	for _, p := range probes {
		if len(lanes) > 0 && !slices.ContainsFunc(p.lanes, func(l string) bool { return slices.Contains(lanes, l) }) {
			continue
		}
		ran := false // not when -run leaves it out
		ok := t.Run(p.category+"/"+p.name, func(t *testing.T) {
			ran = true
			t.Logf("attack (%s): %s", p.language, p.attack)
			if p.knownFailure != "" {
				t.Errorf("known failure, not contained: %s", p.knownFailure)
			}
			code := substitution().Replace(p.code)
			if m := placeholder.FindString(code); m != "" {
				t.Fatalf("the probe names %s, which the suite does not substitute", m)
			}
			base := readPools(t)
			r := runProbe(t, d, pools, p, code, base)
			t.Logf("%s/%d timed out %v in %v; stdout:\n%s\nstderr:\n%s", r.statusType, r.statusValue, r.timedOut,
				r.elapsed.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
			judge(t, p, r)
			for _, f := range h.forbidden {
				if bytes.Contains(r.stdout, []byte(f)) || bytes.Contains(r.stderr, []byte(f)) {
					t.Errorf("the output holds %q, which only the host has", f)
				}
			}
			for _, harm := range h.hostHarm() {
				t.Errorf("host harmed: %s", harm)
			}
			assertNoLeftoversBut(t, d, h.canaryPID)
			for _, f := range pools.failures() {
				t.Errorf("after the run, %s cannot %s", pools.who(), f)
			}
			if err := answers(d); err != nil {
				t.Errorf("the daemon does not answer: %v", err)
			}
			hl := healthOf(t, d)
			peak.fds, peak.rssKiB = max(peak.fds, hl.fds), max(peak.rssKiB, hl.rssKiB)
			// Runs end before their answer, but the daemon may still be
			// closing a connection: a little slack, never a trend.
			if hl.fds > baseHealth.fds+16 {
				t.Errorf("the daemon holds %d descriptors, %d before the suite", hl.fds, baseHealth.fds)
			}
			if hl.rssKiB > baseHealth.rssKiB+64<<10 {
				t.Errorf("the daemon's RSS is %d KiB, %d KiB before the suite", hl.rssKiB, baseHealth.rssKiB)
			}
		})
		if !ran {
			continue
		}
		if tallies[p.category] == nil {
			tallies[p.category] = &tally{}
		}
		tallies[p.category].probes++
		if ok {
			tallies[p.category].contained++
		} else {
			escaped = append(escaped, p.category+"/"+p.name)
		}
	}
	end := healthOf(t, d)
	t.Logf("the daemon: %d fds and %d KiB RSS before the suite, at most %d and %d KiB during it, %d and %d KiB after",
		baseHealth.fds, baseHealth.rssKiB, peak.fds, peak.rssKiB, end.fds, end.rssKiB)

	var table strings.Builder
	w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "category\tprobes\tcontained\t")
	var total tally
	cats := make([]string, 0, len(tallies))
	for c := range tallies {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		fmt.Fprintf(w, "%s\t%d\t%d\t\n", c, tallies[c].probes, tallies[c].contained)
		total.probes += tallies[c].probes
		total.contained += tallies[c].contained
	}
	fmt.Fprintf(w, "total\t%d\t%d\t\n", total.probes, total.contained)
	w.Flush()
	t.Logf("attack suite (lanes %v) in %v:\n%s", lanesOrAll(lanes), time.Since(start).Round(time.Second), table.String())
	if len(escaped) > 0 {
		t.Logf("not contained: %s", strings.Join(escaped, ", "))
	}
	if total.probes == 0 && len(lanes) > 0 {
		t.Errorf("no probe is tagged for lanes %v", lanes)
	}
}

func lanesOrAll(l []string) string {
	if len(l) == 0 {
		return "all"
	}
	return strings.Join(l, ",")
}

// clip shortens a probe's output for the log.
func clip(b []byte) string {
	if len(b) > 2048 {
		return string(b[:2048]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}
