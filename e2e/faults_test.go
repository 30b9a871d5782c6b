package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
)

// The fault tests put the daemon in a bad spot (killed mid-run, a full
// disk, no descriptors left, cgroups it cannot create, an image removed
// under a run) and check that each ends in a clear error or a clean
// result, that nothing of the runs is left behind, and that the daemon
// serves again once the fault is gone.

// runSlots is the set of slots (offsets from the first run uid) whose uid
// some process of d's runs has: one per run in flight (a rootless daemon's
// runs share one uid).
func runSlots(t testing.TB, d *daemon) map[int]bool {
	t.Helper()
	slots := map[int]bool{}
	lo, _ := d.runUIDs()
	for _, pid := range d.runProcesses(t) {
		if ids, ok := processIDs(pid); ok && ids.uid-lo < d.slots {
			slots[ids.uid-lo] = true
		}
	}
	return slots
}

// TestRestartAfterSIGKILLWithTenRuns kills the daemon with SIGKILL while ten
// runs are in flight, one in each slot, and starts it again on the same
// state directory and cgroup name: the runs die with the daemon, the new
// daemon removes everything the old one left (processes, cgroups, mounts,
// state, the slots' uids), and runs then work in every slot at once.
func TestRestartAfterSIGKILLWithTenRuns(t *testing.T) {
	const slots = 10
	d := startDaemon(t, daemonOptions{slots: slots})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clients sync.WaitGroup
	defer clients.Wait()
	frame := job{language: "bash", code: "sleep 60 & sleep 60", timeout: 60}.encode(t)
	for range slots {
		clients.Go(func() {
			conn, _, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), nil)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			conn.Write(ctx, websocket.MessageBinary, frame)
			conn.Read(ctx) // until the daemon dies
		})
	}
	if d.user.rootless {
		atodtest.WaitFor(t, 20*time.Second, "the runs to start", func() bool { return len(d.runProcesses(t)) >= 2*slots })
	} else {
		atodtest.WaitFor(t, 20*time.Second, "a run in every slot", func() bool { return len(runSlots(t, d)) == slots })
	}
	d.kill()
	// A run caught between its setup and its start stays behind: runc's
	// init waits for the daemon to open the run's exec fifo, which no
	// one will, and nothing of atod watches it yet (atod-init does that,
	// once it runs). Every run whose program started dies with the
	// daemon; the rest goes at the next start.
	atodtest.WaitFor(t, 10*time.Second, "the runs to die with the daemon", func() bool {
		return len(slices.DeleteFunc(d.runProcesses(t), isWaitingSandbox)) == 0
	})
	if waiting := d.runProcesses(t); len(waiting) > 0 {
		t.Logf("sandboxes caught before their start, left to the restart: %v", waiting)
	}
	stale, err := leftovers.Find(d.scope())
	if err != nil {
		t.Fatal(err)
	}
	// Each run leaves its job cgroup at least (one on cgroup v2, one a
	// hierarchy on v1): its job files and its writable root's
	// directories are on the daemon's own tmpfs mounts, which went with
	// its mount namespace.
	if len(stale) < slots {
		t.Fatalf("a daemon killed with %d runs in flight left only %q to clean up: the test proves nothing", slots, stale)
	}
	t.Logf("left by the killed daemon: %d entries, e.g. %q", len(stale), stale[:4])

	d2 := startDaemon(t, daemonOptions{state: d.state, cgroup: d.cgroup, slots: slots})
	assertNoLeftovers(t, d2)

	// Every slot at once: each run waits, in flight, until the test has
	// seen all of them, then ends normally.
	results := make([]string, slots)
	var runs sync.WaitGroup
	for i := range slots {
		runs.Go(func() {
			code := fmt.Sprintf("%s; echo run %d", holdCode(fmt.Sprint("hold-", i)), i)
			r, err := executeErr(d2, job{language: "bash", code: code, timeout: 60})
			if err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = status(r) + " " + string(r.Stdout)
		})
	}
	if d2.user.rootless {
		atodtest.WaitFor(t, 20*time.Second, "every run to start", func() bool { return len(d2.runProcesses(t)) >= slots })
	} else {
		atodtest.WaitFor(t, 20*time.Second, "a run in every slot", func() bool { return len(runSlots(t, d2)) == slots })
	}
	for i := range slots {
		awaitHold(t, d2, fmt.Sprint("hold-", i))
		release(t, d2, fmt.Sprint("hold-", i))
	}
	runs.Wait()
	for i, got := range results {
		if want := fmt.Sprintf("exited/0 run %d\n", i); got != want {
			t.Errorf("run %d after the restart: %q, want %q", i, got, want)
		}
	}
	assertNoLeftovers(t, d2)
}

// inSomeRun reports whether path exists in the root of one of d's runs.
func inSomeRun(t testing.TB, d *daemon, path string) bool {
	return atodtest.InRoot(d.runProcesses(t), path)
}

// isWaitingSandbox reports whether pid is a sandbox that has not started
// its program yet: its setup (atod-setup), or its init (atod-init, as
// /ATO/yargs) waiting for its job, with no child.
func isWaitingSandbox(pid int) bool {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return string(comm) == "atod-setup\n" || (string(comm) == "yargs\n" && len(children) == 0)
}

// TestJobCgroupCreationFailing makes the kernel refuse the limits of the
// runs' cgroups under the daemon's own parent: on cgroup v1 a child's CPU
// quota may not exceed its parent's, so a parent with a small quota makes
// every job cgroup's creation fail (the parent holds no process: the quota
// limits nothing else). A run is answered with the internal error, nothing
// of it is left, and runs work again once the fault is gone.
func TestJobCgroupCreationFailing(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the fault is injected through cgroup v1's CPU quota; a rootless daemon runs on cgroup v2 only")
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var cpu string
	for _, line := range strings.Split(string(own), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			cpu = filepath.Join("/sys/fs/cgroup/cpu", f[2])
		}
	}
	if cpu == "" {
		t.Skip("the fault is injected through cgroup v1's cpu hierarchy, which this host lacks (cgroup v2)")
	}
	cgroupName := "atod-e2e-" + randomHex(4)
	// The daemon's own parent, made before the daemon so that the fault
	// is in place; the daemon removes it when it stops.
	parent := filepath.Join(cpu, cgroupName)
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(parent) })
	quota := filepath.Join(parent, "cpu.cfs_quota_us")
	if err := os.WriteFile(quota, []byte("10000"), 0); err != nil { // a tenth of a run's CPU
		t.Fatal(err)
	}
	d := startDaemon(t, daemonOptions{cgroup: cgroupName})

	o := send(t, d, websocket.MessageBinary, job{language: "bash", code: "echo should not run"}.encode(t))
	if o.result != nil || o.code != websocket.StatusInternalError || o.reason != "internal server error" {
		t.Errorf("a run whose cgroup cannot be made: result %v, close %d %q; want no result and 1011 internal server error", o.result, o.code, o.reason)
	}
	// The log line may come a moment after the close frame.
	atodtest.WaitFor(t, 5*time.Second, "the daemon's log to say what failed", func() bool {
		return strings.Contains(d.logs(), `"msg":"request"`) && strings.Contains(d.logs(), `"outcome":"1011"`) && strings.Contains(d.logs(), "creating job cgroup")
	})
	// The pool's refiller failed too, and says so.
	atodtest.WaitFor(t, 5*time.Second, "the daemon's log to say that preparing failed", func() bool {
		return strings.Contains(d.logs(), `"msg":"refilling the pool"`)
	})
	assertNoLeftovers(t, d)

	if err := os.WriteFile(quota, []byte("-1"), 0); err != nil {
		t.Fatal(err)
	}
	r := execute(t, d, job{language: "bash", code: "echo back"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 back\n" {
		t.Errorf("once cgroups can be made again: %q", got)
	}
	// And the refiller tries again.
	awaitNewPoolMember(t, d, nil)
	assertNoLeftovers(t, d)
}

// fdTargets lists what the open descriptors of process pid are.
func fdTargets(t testing.TB, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join(dir, fd.Name()))
		targets = append(targets, fd.Name()+" "+target)
	}
	return targets
}

// TestDescriptorLimit runs the daemon into its RLIMIT_NOFILE with idle
// websocket connections: a run asked for then gets the internal error, new
// connections wait (the kernel queues them; the daemon accepts them once
// it can), the daemon does not crash, and once the connections close it
// serves again with no descriptor left over.
func TestDescriptorLimit(t *testing.T) {
	// One slot: the daemon keeps a few descriptors for each slot it has
	// used (writableroot_linux.go's idmaps), which the first run opens.
	d := startDaemon(t, daemonOptions{slots: 1})
	execute(t, d, job{language: "bash", code: "true"}) // whatever a first run opens for good
	// and the sandbox prepared after it, which holds a few (its pipes, its
	// image's lease) for as long as it waits.
	awaitNewPoolMember(t, d, nil)
	serving := d.servingPID(t)
	baseFDs := fdTargets(t, serving)
	base := len(baseFDs)
	limit := base + 48
	// Only the soft limit: the daemon gives runs a limit of their own up
	// to its hard one, which must stay what it was at startup.
	var old unix.Rlimit
	if err := unix.Prlimit(serving, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prlimit(serving, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(limit), Max: old.Max}, nil); err != nil {
		t.Fatalf("lowering the daemon's descriptor limit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
	defer cancel()
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	for len(fdTargets(t, serving)) < limit {
		c, _, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), nil)
		if err != nil {
			t.Fatalf("connection %d, before the limit: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	t.Logf("the daemon holds %d descriptors (limit %d) with %d idle connections", len(fdTargets(t, serving)), limit, len(conns))

	// One more connection waits in the kernel's queue; once accepted, it
	// asks for a run after the others have closed.
	waiting := make(chan error, 1)
	closed := make(chan struct{})
	queued := job{language: "bash", code: "echo queued"}.encode(t)
	go func() {
		waiting <- func() error {
			c, _, err := websocket.Dial(ctx, d.url("/api/v0/ws/execute"), nil)
			if err != nil {
				return err
			}
			defer c.CloseNow()
			<-closed
			if err := c.Write(ctx, websocket.MessageBinary, queued); err != nil {
				return err
			}
			_, msg, err := c.Read(ctx)
			if err == nil && !strings.Contains(string(msg), "queued") {
				err = fmt.Errorf("result %q", msg)
			}
			return err
		}()
	}()

	// A run on a connection the daemon holds cannot get its descriptors.
	c := conns[0]
	if err := c.Write(ctx, websocket.MessageBinary, job{language: "bash", code: "echo should not run"}.encode(t)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if code, reason := websocket.CloseStatus(err), closeReason(err); code != websocket.StatusInternalError || reason != "internal server error" {
		t.Errorf("a run at the descriptor limit: message %q, close %d %q (%v); want 1011 internal server error", msg, code, reason, err)
	}

	for _, c := range conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
	conns = nil
	close(closed)
	if err := <-waiting; err != nil {
		t.Errorf("the connection that waited for a descriptor: %v", err)
	}
	select {
	case <-d.exited:
		t.Fatalf("the daemon exited at its descriptor limit: %v", d.exitErr)
	default:
	}
	r := execute(t, d, job{language: "bash", code: "echo back"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 back\n" {
		t.Errorf("after the connections closed: %q", got)
	}
	deadline := time.Now().Add(timescale.D(5 * time.Second))
	for len(fdTargets(t, serving)) > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if now := fdTargets(t, serving); len(now) > base {
		t.Errorf("the daemon holds %d descriptors, %d before the fault:\nbefore: %q\nnow: %q", len(now), base, baseFDs, now)
	}
	assertNoLeftovers(t, d)
}

func closeReason(err error) string {
	if ce, ok := errors.AsType[websocket.CloseError](err); ok {
		return ce.Reason
	}
	return ""
}

// TestImageRemovedMidRun removes the image of a run in flight with atod
// rootfs rm: the removal succeeds at once, leaving the tree to the run
// (its lease), which finishes in its image undisturbed; the tree goes when
// the run ends; later runs get the missing-image refusal; and nothing of
// the run is left, its mounts included.
func TestImageRemovedMidRun(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the test's store is root's, whose leases a rootless daemon cannot take")
	}
	store := linkedStore(t)
	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})

	done := make(chan string, 1)
	go func() {
		r, err := executeErr(d, job{language: "bash", timeout: 60,
			code: holdCode("hold-rm") + "; [ -s /etc/os-release ] && python3 -c 'print(\"in the image\")'"})
		if err != nil {
			done <- err.Error()
			return
		}
		done <- status(r) + " " + string(r.Stdout) + string(r.Stderr)
	}()
	awaitHold(t, d, "hold-rm")
	out, err := rootfsCmd(t, store, "rm", "debian-12")
	if err != nil {
		t.Fatalf("atod rootfs rm while a run uses the image: %v\n%s", err, out)
	}
	t.Logf("atod rootfs rm:\n%s", out)
	if !strings.Contains(out, "in use by runs") {
		t.Errorf("the removal did not leave the tree in use to its run:\n%s", out)
	}
	if trees, _ := os.ReadDir(filepath.Join(store, "trees")); len(trees) != 1 {
		t.Errorf("the tree of the run in flight is gone: trees %v", trees)
	}
	release(t, d, "hold-rm")
	if got := <-done; got != "exited/0 in the image\n" {
		t.Errorf("the run whose image was removed: %q, want it to finish in its image", got)
	}
	atodtest.WaitFor(t, 10*time.Second, "the tree to be collected after its run", func() bool {
		trees, _ := os.ReadDir(filepath.Join(store, "trees"))
		return len(trees) == 0
	})
	if o := send(t, d, websocket.MessageBinary, job{language: "bash", code: "true"}.encode(t)); o.code != websocket.StatusPolicyViolation || o.reason != "invalid request: no such language: bash" {
		t.Errorf("a run after the removal: close %d %q, want 1008 invalid request: no such language: bash", o.code, o.reason)
	}
	assertNoLeftovers(t, d)
}

// linkedStore is a new image store holding the installed debian-12 image:
// its tree's files hard-linked (nothing of a store changes a file; removing
// the copy only unlinks), its manifest and lease copied. Where the tree is
// on another filesystem, the image is pulled from the test registry.
func linkedStore(t *testing.T) string {
	t.Helper()
	src := filepath.Dir(testRootfsTree(t))
	store := newStoreDir(t)
	tree := filepath.Join(store, "trees", filepath.Base(src))
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{store, filepath.Dir(tree), tree} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "-l", filepath.Join(src, "rootfs"), tree).CombinedOutput(); err != nil {
		t.Logf("cannot link the installed tree (%v: %s); pulling the image instead", err, out)
		os.RemoveAll(store)
		return pulledStore(t, testImages(t))
	}
	manifest, err := os.ReadFile(filepath.Join(src, "image.json"))
	if err == nil {
		err = os.WriteFile(filepath.Join(tree, "image.json"), manifest, 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tree, "lease"), nil, 0o600)
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(store, "names"), 0o755)
	}
	if err == nil {
		err = os.Symlink(filepath.Join("..", "trees", filepath.Base(src)), filepath.Join(store, "names", "debian-12"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// privateTmpfs wraps the daemon's command so that it starts in a mount
// namespace of its own with a tmpfs of opts on dir: nothing of the mount
// reaches the host's namespace, and it goes with the daemon.
func privateTmpfs(dir, opts string) []string {
	return []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount -t tmpfs -o "$1" atod-e2e-fault "$2" && shift 2 && exec "$@"`, "sh", opts, dir}
}

// fill writes to dir until its filesystem is full: a file as large as it
// takes, then empty files until no inode is left.
func fill(t testing.TB, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v", dir, err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("fill-%d", i)))
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return
		}
		f.Close()
	}
}

// TestFullStateDisk fills the filesystem of the daemon's state directory
// (a small tmpfs of its own here), blocks and inodes: runs work all the
// same, and leave nothing. A run writes nothing there: its job files and
// its writable root's directory and mount points are on the daemon's own
// tmpfs mounts inside it (sandbox/sharedmounts_linux.go). (Before those
// held the roots' directories, a run with no inode left failed with the
// internal error.) When the roots' own tmpfs is full, a sandbox cannot be
// made: the run gets the internal error, the log says why once, and
// nothing of the run is left.
func TestFullStateDisk(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("mounting the small filesystem for the state directory takes root")
	}
	disk := daemonUserFromEnv(t).stateDir(t)
	state := filepath.Join(disk, "state") // not the mount point itself, which leftovers.Find would count
	// No sandbox prepared ahead: one made before the disk filled would
	// serve the next run, as it should; this is about making one.
	d := startDaemon(t, daemonOptions{state: state, wrap: privateTmpfs(disk, "size=1m,nr_inodes=512,mode=0711"), args: []string{"--prepared", "0"}})
	execute(t, d, job{language: "bash", code: "true"})
	// The daemon's view of the disk, through its root.
	seen := fmt.Sprintf("/proc/%d/root%s", d.cmd.Process.Pid, disk)
	fill(t, seen)

	r := execute(t, d, job{language: "bash", code: "echo disk full"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 disk full\n" {
		t.Errorf("with no block and no inode left on the state disk: %q", got)
	}
	assertNoLeftovers(t, d)
	removeFills := func(dir string) {
		fills, _ := filepath.Glob(filepath.Join(dir, "fill*"))
		for _, f := range fills {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	removeFills(seen)

	// The roots' own tmpfs full: a sandbox cannot be made, and the run
	// gets the internal error, leaving nothing.
	roots := fmt.Sprintf("/proc/%d/root%s/roots", d.servingPID(t), state) // the daemon's own mounts
	fill(t, roots)
	o := send(t, d, websocket.MessageBinary, job{language: "bash", code: "echo should not run"}.encode(t))
	if o.result != nil || o.code != websocket.StatusInternalError || o.reason != "internal server error" {
		t.Errorf("with no inode left for writable roots: result %v, close %d %q; want no result and 1011 internal server error", o.result, o.code, o.reason)
	}
	// The daemon's log reaches the test through a pipe, after the close.
	atodtest.WaitFor(t, 5*time.Second, "the daemon's log of the failure", func() bool { return strings.Contains(d.logs(), "no space left on device") })
	if n := strings.Count(d.logs(), "no space left on device"); n != 1 {
		t.Errorf("the daemon's log says %d times that the roots' tmpfs is full, want 1:\n%s", n, d.logs())
	}
	entries, err := os.ReadDir(roots)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "fill") {
			t.Errorf("the failed run left %s in the roots' tmpfs", e.Name())
		}
	}
	removeFills(roots)
	assertNoLeftovers(t, d)
	r = execute(t, d, job{language: "bash", code: "echo back"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 back\n" {
		t.Errorf("once there is room again: %q", got)
	}
	assertNoLeftovers(t, d)
}

// TestFullImageStore pulls an image into a store whose disk is full (its
// work area, where installs unpack, on a small tmpfs in the pull's own
// mount namespace) while a daemon serves from the store: the pull fails
// with one line that says the disk is full, leaves nothing of the image
// (no name, no tree, an empty work area), and the daemon runs programs in
// the store's image throughout.
func TestFullImageStore(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("atod rootfs installs only into root's stores")
	}
	reg := testImages(t)
	store := linkedStore(t)
	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
	work := filepath.Join(store, ".work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	pull := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount -t tmpfs -o size=16m atod-e2e-fault "$1" || exit 100
shift; "$@"; rc=$?; echo "work area: [$(ls -A "$0/.work")]" >&2; exit $rc`,
		store, work, filepath.Join(binDir, "atod"), "rootfs", "pull", "--images", store, "--name", "other", reg.ref("v2"))
	var stdout, stderr strings.Builder
	pull.Stdout, pull.Stderr = &stdout, &stderr
	err := pull.Run()
	t.Logf("pull into a full store: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	if pull.ProcessState.ExitCode() == 100 {
		t.Fatalf("mounting the small work area: %s", stderr.String())
	}
	if err == nil {
		t.Fatal("the pull into a full store succeeded")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "no space left on device") || lines[1] != "work area: []" {
		t.Errorf("the pull's error: %q; want one line saying the disk is full, then an empty work area", lines)
	}
	if names, _ := os.ReadDir(filepath.Join(store, "names")); len(names) != 1 || names[0].Name() != "debian-12" {
		t.Errorf("names after the failed pull: %v, want only debian-12", names)
	}
	if trees, _ := os.ReadDir(filepath.Join(store, "trees")); len(trees) != 1 {
		t.Errorf("trees after the failed pull: %v, want only debian-12's", trees)
	}
	r := execute(t, d, job{language: "bash", code: "echo still serving"})
	if got := status(r) + " " + string(r.Stdout); got != "exited/0 still serving\n" {
		t.Errorf("the daemon serving from the full store: %q", got)
	}
	assertNoLeftovers(t, d)
}
