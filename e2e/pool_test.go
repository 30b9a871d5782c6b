package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
)

// poolMembers are the ids of the sandboxes d keeps prepared ahead.
func (d *daemon) poolMembers(t testing.TB) map[string]bool {
	t.Helper()
	ids, err := leftovers.Pool(d.scope())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// awaitNewPoolMember waits until d keeps a prepared sandbox that is not one
// of old, and returns its id.
func awaitNewPoolMember(t testing.TB, d *daemon, old map[string]bool) string {
	t.Helper()
	var id string
	atodtest.WaitFor(t, 20*time.Second, "a sandbox prepared ahead", func() bool {
		for m := range d.poolMembers(t) {
			if !old[m] {
				id = m
				return true
			}
		}
		return false
	})
	return id
}

// traceProbe leaves what a run can leave, then looks for it (argv[1]:
// "leave", "look" or "both"). What it leaves: a file in every place a run
// may write, a process in a session of its own holding an abstract unix
// socket, System V shared memory, a message queue and a semaphore set, and a
// new hostname (refused: a run has no capabilities). It prints one line per
// trace it finds, "found <what>".
const traceProbe = `import ctypes, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x61746f64, 0o1000
places = ["/tmp", "/dev/shm", "/ATO", "/ATO/context", "/var/tmp", "/root", "/"]
sock = "\0atod-trace"
mode = sys.argv[1]
if mode in ("leave", "both"):
    for p in places:
        try:
            open(os.path.join(p, "atod-trace"), "w").write("x")
        except OSError:
            pass
    libc.shmget(KEY, 4096, IPC_CREAT | 0o600)
    libc.msgget(KEY, IPC_CREAT | 0o600)
    libc.semget(KEY, 1, IPC_CREAT | 0o600)
    subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket(socket.AF_UNIX); s.bind(%r); s.listen(); print('up', flush=True); time.sleep(1000)" % sock],
                     start_new_session=True, stdout=subprocess.PIPE).stdout.readline()
    try:
        socket.sethostname("atod-trace")
    except OSError:
        pass
if mode in ("look", "both"):
    for p in places:
        if os.path.exists(os.path.join(p, "atod-trace")):
            print("found file", p)
    for name, call in (("shm", lambda: libc.shmget(KEY, 0, 0)), ("msg", lambda: libc.msgget(KEY, 0)), ("sem", lambda: libc.semget(KEY, 0, 0))):
        if call() >= 0:
            print("found sysv", name)
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if b"atod-trace" in open("/proc/%s/cmdline" % pid, "rb").read():
                    print("found process", pid)
            except OSError:
                pass
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
        print("found abstract socket")
    except OSError:
        pass
    if socket.gethostname() != "ato":
        print("found hostname", socket.gethostname())`

// TestSandboxesAreUsedOnce: a run's sandbox is never another's. In one run
// the probe finds every trace it left (so the look can fail); a run that
// leaves them and the next run in the same slot (there is one), which takes
// a sandbox prepared meanwhile, share nothing: no file anywhere a run may
// write and no System V object, which would outlive a reused sandbox's
// processes; nor a process or an abstract socket, which init's kill at the
// end of every run takes in any case; and the hostname is the sandbox's
// (a run cannot change it: it has no capabilities).
func TestSandboxesAreUsedOnce(t *testing.T) {
	d := startDaemon(t, daemonOptions{slots: 1})
	run := func(mode string) (found []string) {
		t.Helper()
		r := execute(t, d, job{language: "python", code: traceProbe, arguments: []string{mode}, timeout: scaledTimeout(20)})
		if status(r) != "exited/0" {
			t.Fatalf("%s: %s, stderr %s", mode, status(r), r.Stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(r.Stdout)), "\n") {
			if line != "" {
				found = append(found, line)
			}
		}
		return found
	}
	both := run("both")
	t.Logf("what one run finds of itself: %q", both)
	for _, want := range []string{"found file /tmp", "found file /dev/shm", "found file /ATO", "found file /ATO/context",
		"found file /var/tmp", "found file /root", "found file /", "found sysv shm", "found sysv msg", "found sysv sem", "found abstract socket"} {
		if !slices.Contains(both, want) {
			t.Errorf("a run that left traces did not find %q of its own: the look cannot fail", want)
		}
	}
	if !slices.ContainsFunc(both, func(s string) bool { return strings.HasPrefix(s, "found process") }) {
		t.Errorf("a run that left a process did not find it: the look cannot fail")
	}

	before := d.poolMembers(t)
	run("leave")
	next := awaitNewPoolMember(t, d, before)
	found := run("look")
	if members := d.poolMembers(t); members[next] {
		t.Errorf("the run after did not take the sandbox prepared for it (%s; pool %v)", next, slices.Sorted(maps.Keys(members)))
	}
	for _, f := range found {
		t.Errorf("the next run in the slot saw the last one's trace: %s", f)
	}
	assertNoLeftovers(t, d)
}

// TestPreparedNeverExceedSlots: with one slot, sandboxes prepared for one
// image give way to a run of another (evicted, not waited for), and at no
// moment do the daemon's sandboxes, prepared and running, number more than
// its slots; each image used keeps one prepared while the slot allows.
func TestPreparedNeverExceedSlots(t *testing.T) {
	d := startDaemon(t, daemonOptions{slots: 1})
	var most atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cgs, err := leftovers.JobCgroups(d.cgroup)
			if err == nil {
				// Counted per hierarchy: each is one directory read,
				// where the hierarchies one after the other are not
				// one moment (a sandbox's cgroups removed from the
				// first read and the next one's made in the last
				// would count twice).
				perParent := map[string]int64{}
				for _, c := range cgs {
					perParent[filepath.Dir(c)]++
				}
				for _, n := range perParent {
					if n > most.Load() {
						most.Store(n)
					}
				}
			}
			time.Sleep(time.Millisecond) // the sampling interval: this waits for nothing
		}
	}()
	for _, lang := range []string{"bash", "python", "bash", "python"} {
		before := d.poolMembers(t)
		r := execute(t, d, job{language: lang, code: map[string]string{"bash": "echo ok", "python": "print('ok')"}[lang]})
		if got := status(r) + " " + string(r.Stdout); got != "exited/0 ok\n" {
			t.Fatalf("%s: %q", lang, got)
		}
		awaitNewPoolMember(t, d, before)
	}
	close(stop)
	<-sampled
	if n := most.Load(); n > 1 {
		t.Errorf("at one moment the daemon had %d sandboxes (job cgroups), prepared and running; it has 1 slot", n)
	}
	if n := len(d.poolMembers(t)); n != 1 {
		t.Errorf("%d sandboxes prepared with 1 slot, want 1", n)
	}
	assertNoLeftovers(t, d)
}

// TestPoolFollowsImageChanges: when an image is replaced, the sandboxes
// prepared for its old tree are discarded and the tree is released (the
// daemon's collector then removes it); the next run gets the new tree.
func TestPoolFollowsImageChanges(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the test's store is root's, whose leases a rootless daemon cannot take")
	}
	store := linkedStore(t)
	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
	r := execute(t, d, job{language: "bash", code: "echo old"})
	if status(r) != "exited/0" {
		t.Fatalf("a run in the old tree: %s %s", status(r), r.Stderr)
	}
	old := awaitNewPoolMember(t, d, nil)
	// Replace the image as the store's writer does: a new tree, and the
	// name moved to it by a rename.
	oldTree, err := filepath.EvalSymlinks(filepath.Join(store, "names", "debian-12"))
	if err != nil {
		t.Fatal(err)
	}
	newID := strings.Repeat("e", 64)
	newTree := filepath.Join(store, "trees", newID)
	if out, err := exec.Command("cp", "-a", "-l", oldTree, newTree).CombinedOutput(); err != nil {
		t.Fatalf("copying the tree: %v: %s", err, out)
	}
	manifest, err := os.ReadFile(filepath.Join(newTree, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The manifest and the lease file are the new tree's own, not links to
	// the old one's (a lease is a flock on that file).
	for _, f := range []string{"image.json", "lease"} {
		if err := os.Remove(filepath.Join(newTree, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(newTree, "lease"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(newTree, "image.json"), []byte(strings.Replace(string(manifest), filepath.Base(oldTree), newID, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(store, "names", ".debian-12.new")
	if err := os.Symlink(filepath.Join("..", "trees", newID), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, filepath.Join(store, "names", "debian-12")); err != nil {
		t.Fatal(err)
	}
	atodtest.WaitFor(t, 10*time.Second, "the old tree's prepared sandbox to be discarded", func() bool { return !d.poolMembers(t)[old] })
	atodtest.WaitFor(t, 10*time.Second, "the old tree to be collected", func() bool {
		_, err := os.Stat(oldTree)
		return os.IsNotExist(err)
	})
	r = execute(t, d, job{language: "bash", code: "echo new"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 new\n" {
		t.Errorf("a run in the new tree: %q", got)
	}
	assertNoLeftovers(t, d)
}

// TestSIGKILLWithPreparedSandboxes: a daemon killed outright while it keeps
// sandboxes prepared leaves them behind (its pool list no longer counts:
// the leftover check sees them), but for their processes: each init waits
// on a job pipe that only the daemon held, and ends with it. The daemon's
// next start on the same state and cgroup name removes the rest.
func TestSIGKILLWithPreparedSandboxes(t *testing.T) {
	first := startDaemon(t, daemonOptions{})
	execute(t, first, job{language: "bash", code: "true"})
	awaitNewPoolMember(t, first, nil)
	if pids, err := leftovers.Processes(first.scope().UIDLo, first.scope().UIDHi); err != nil || len(pids) == 0 {
		t.Fatalf("no process of a prepared sandbox (%v): the check below cannot fail", err)
	}
	first.kill()
	for deadline := time.Now().Add(timescale.D(10 * time.Second)); ; time.Sleep(10 * time.Millisecond) {
		pids, err := leftovers.RunProcesses(first.scope())
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed daemon's prepared sandboxes still run: processes %v", pids)
		}
	}
	found, err := leftovers.Find(first.scope())
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatalf("a daemon killed with a sandbox prepared left nothing to find: the check cannot see a dead daemon's pool")
	}
	t.Logf("left by the killed daemon: %q", found)
	second := startDaemon(t, daemonOptions{state: first.state, cgroup: first.cgroup})
	r := execute(t, second, job{language: "bash", code: "echo back"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 back\n" {
		t.Errorf("after the restart: %q", got)
	}
	assertNoLeftovers(t, second)
}

// processesOf are the processes in the job cgroup of sandbox id, by pid:
// their command lines, NUL-separated.
func processesOf(t testing.TB, id string) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	procs := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil || !strings.Contains(string(cg), "/"+id+"\n") {
			continue // gone, or another's
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil {
			procs[pid] = string(cmdline)
		}
	}
	return procs
}

// TestRunnerWaitsAhead: a sandbox prepared ahead has its runner started
// already (the daemon's default), the static Bash with its wait option and
// /ATO/runner, asleep reading its gate (its kernel stack says pipe_read);
// the run that takes it goes on from there, and finds the runner contract
// as it is: /ATO/runner a regular file holding the language's runner.
func TestRunnerWaitsAhead(t *testing.T) {
	if st, err := os.Stat(filepath.Join(binDir, "atod-bash")); err != nil || !st.Mode().IsRegular() {
		t.Skipf("runners start ahead only with atod-bash (make bin/atod-bash): %v", err)
	}
	d := startDaemon(t, daemonOptions{slots: 2})
	before := d.poolMembers(t)
	execute(t, d, job{language: "bash", code: "true", timeout: scaledTimeout(10)})
	id := awaitNewPoolMember(t, d, before)
	const runner = "/ATO/bash\x00--atod-wait-fd\x003\x00/ATO/runner\x00"
	atodtest.WaitFor(t, 10*time.Second, "the prepared sandbox's runner asleep on its gate", func() bool {
		for pid, cmdline := range processesOf(t, id) {
			if cmdline != runner {
				continue
			}
			stack, err := os.ReadFile(fmt.Sprintf("/proc/%d/stack", pid))
			return err == nil && strings.Contains(string(stack), "pipe_read")
		}
		return false
	})
	procs := processesOf(t, id)
	if len(procs) != 2 {
		t.Errorf("the prepared sandbox holds %d processes, want its init and its runner: %q", len(procs), slices.Collect(maps.Values(procs)))
	}
	script, err := os.ReadFile("../runners/scripts/bash")
	if err != nil {
		t.Fatal(err)
	}
	r := execute(t, d, job{language: "bash", code: `stat -c %F /ATO/runner; cat /ATO/runner`, timeout: scaledTimeout(10)})
	if members := d.poolMembers(t); members[id] {
		t.Errorf("the run did not take the prepared sandbox %s", id)
	}
	if want := "regular file\n" + string(script); status(r) != "exited/0" || string(r.Stdout) != want {
		t.Errorf("the run: %s, stdout %q, stderr %q; want exited/0 and %q", status(r), r.Stdout, r.Stderr, want)
	}
}
