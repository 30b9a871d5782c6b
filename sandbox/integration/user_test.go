package integration

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/leftovers"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/sandbox"
	"github.com/atod-project/atod/sandbox/job"
)

// testUser is the uid and gid of the runs that are not root: that of the
// first user of Debian and of many images' User.
const testUser = 1000

// asUser runs a job with uid and gid inside.
func asUser(uid, gid uint32) func(*job.Spec) {
	return func(s *job.Spec) { s.UID, s.GID = uid, gid }
}

// TestRunAsUser checks what a run as an ordinary user may and may not do.
// Its counterparts for root of the namespace are TestRunnerContractFiles
// and TestSeccompAndPrivileges.
func TestRunAsUser(t *testing.T) {
	sb := newSandbox(t, 1)
	// try prints a command's outcome: allowed, or the reason it failed.
	script := `try() { if out=$("$@" 2>&1); then echo "$*: allowed"; else echo "$*: ${out##*: }"; fi; }
echo ids $(id -u) $(id -g) $(id -G)
echo owners $(stat -c %u:%g:%a /ATO /ATO/context)
touch /ATO/context/x /tmp/y /ATO/compiled /dev/shm/z && echo written $(stat -c %u:%g /ATO/context/x /tmp/y /ATO/compiled /dev/shm/z)
echo input $(cat /ATO/input)
try test -r /etc/passwd
try sh -c 'echo x >> /etc/passwd'
try touch /dev/x
try cat /etc/shadow
try sh -c 'echo forged > /proc/1/fd/3'
grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
awk '{print "uid_map", $1, $2, $3}' /proc/self/uid_map
awk '{print "gid_map", $1, $2, $3}' /proc/self/gid_map`
	out := runScript(t, sb, script, timescale.D(10*time.Second), asUser(testUser, testUser), func(s *job.Spec) {
		s.Files.Input = []byte("the input")
	})
	got := out.stdout.String()
	// The run's own ids are the slot's host uid; root of its namespace,
	// which the sandbox's setup needs, is the slot's second one.
	run, root := testUIDBase, testUIDBase+sb.slots
	for _, want := range []string{
		"ids 1000 1000 1000\n", // no supplementary groups
		"owners 1000:1000:755 1000:1000:755\n",
		"written 1000:1000 1000:1000 1000:1000 1000:1000\n",
		"input the input\n",
		"test -r /etc/passwd: allowed\n", // try tells allowed from denied
		// /dev belongs to root of the namespace, who may write it.
		"touch /dev/x: Permission denied\n",
		// 0640 root:shadow on the host: nobody's inside, and not the run's.
		"cat /etc/shadow: Permission denied\n",
		"sh -c echo forged > /proc/1/fd/3: Permission denied\n",
		"CapEff:\t0000000000000000\n", "NoNewPrivs:\t1\n",
		fmt.Sprintf("uid_map 1000 %d 1\n", run), fmt.Sprintf("uid_map 0 %d 1\n", root),
		fmt.Sprintf("gid_map 1000 %d 1\n", run), fmt.Sprintf("gid_map 0 %d 1\n", root),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stdout lacks %q:\n%s\nstderr: %s", want, got, out.stderr.String())
		}
	}
	// A file of the rootfs is refused twice over; which check speaks
	// first depends on the file system (ext4 here: the permission check;
	// 9p in the cgroup v2 lane: the read-only mount).
	if !strings.Contains(got, "sh -c echo x >> /etc/passwd: Permission denied\n") &&
		!strings.Contains(got, "sh -c echo x >> /etc/passwd: Read-only file system\n") {
		t.Errorf("appending to /etc/passwd was not refused:\n%s", got)
	}
	if got := out.res.Status.String(); got != "exited/0" {
		t.Errorf("status = %s, want exited/0", got)
	}
	assertNoLeftovers(t, sb)
}

// TestRunUserIDs runs with uids and gids that differ, are root, nobody or
// the largest allowed.
func TestRunUserIDs(t *testing.T) {
	sb := newSandbox(t, 1)
	for _, ids := range [][2]uint32{{0, 0}, {testUser, testUser}, {testUser, 0}, {0, testUser}, {65534, 65534}, {math.MaxInt32, 5}} {
		t.Run(fmt.Sprintf("%d:%d", ids[0], ids[1]), func(t *testing.T) {
			out := runScript(t, sb, "echo $(id -u) $(id -g) $(id -G) $(stat -c %u:%g /ATO /ATO/context) && touch /ATO/context/f", timescale.D(10*time.Second), asUser(ids[0], ids[1]))
			own := fmt.Sprintf("%d:%d", ids[0], ids[1])
			want := fmt.Sprintf("%d %d %d %s %s\n", ids[0], ids[1], ids[1], own, own)
			if got := out.stdout.String(); got != want || out.res.Status.String() != "exited/0" {
				t.Errorf("stdout %q, status %v; want %q, exited/0 (stderr %q)", got, out.res.Status, want, out.stderr.String())
			}
		})
	}
}

func TestRunUserOutOfRange(t *testing.T) {
	sb := newSandbox(t, 1)
	for _, ids := range [][2]uint32{{math.MaxInt32 + 1, 0}, {0, math.MaxInt32 + 1}, {math.MaxUint32, math.MaxUint32}} {
		var stdout strings.Builder
		_, err := sb.Run(context.Background(), job.Spec{
			Rootfs:  testRootfs(t),
			Files:   job.Files{Runner: []byte("echo ran\n")},
			Command: job.RunnerCommand(),
			Timeout: timescale.D(10 * time.Second),
			Stdout:  &stdout,
			UID:     ids[0],
			GID:     ids[1],
		})
		if !errors.Is(err, sandbox.ErrUnsupportedUser) || stdout.Len() > 0 {
			t.Errorf("uid %d, gid %d: error %v, stdout %q; want ErrUnsupportedUser and no run", ids[0], ids[1], err, stdout.String())
		}
	}
}

// TestUserRunEnds checks that init, running as the run's user, still
// reports the runner's status and usage, survives kill -1, reaps orphans,
// and kills and reaps everything at the end.
func TestUserRunEnds(t *testing.T) {
	sb := newSandbox(t, 1)
	user := asUser(testUser, testUser)
	tests := []struct{ name, script, want string }{
		{"exit 7", "exit 7", "exited/7"},
		{"SIGTERM itself", "kill -TERM $$", "killed/15"},
		{"kill -1 spares init", "kill -TERM -1; sleep 0.2; exit 4", "exited/4"},
		// The background sleep outlives the runner, and init kills it.
		{"background process", "sleep 100 & exit 3", "exited/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out := runScript(t, sb, tt.script, timescale.D(10*time.Second), user)
			if got := out.res.Status.String(); got != tt.want || out.res.TimedOut {
				t.Errorf("status = %s (timed out %v), want %s (stderr %q)", got, out.res.TimedOut, tt.want, out.stderr.String())
			}
			if e := time.Since(start); e > timescale.D(3*time.Second) {
				t.Errorf("run took %v", e)
			}
			assertNoLeftovers(t, sb)
		})
	}

	t.Run("orphans are reaped", func(t *testing.T) {
		// A child that its parent never waits for is a zombie (the
		// control); one whose parent has gone is init's, which reaps it.
		script := `python3 -c '
import os, time
pid = os.fork()
if pid == 0:
    os._exit(0)
time.sleep(0.3)
print("unwaited", open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0])'
(sleep 0.1 &)
sleep 0.5
echo zombies $(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')`
		out := runScript(t, sb, script, timescale.D(10*time.Second), user)
		if got, want := out.stdout.String(), "unwaited Z\nzombies 0\n"; got != want {
			t.Errorf("stdout %q, want %q (stderr %q)", got, want, out.stderr.String())
		}
	})

	t.Run("usage", func(t *testing.T) {
		out := runScript(t, sb, "python3 -c 'x=0\nfor i in range(3000000): x+=i'", timescale.D(30*time.Second), user)
		st := out.res.Stats
		if out.res.Status.String() != "exited/0" || st.User < 50*time.Millisecond || st.MaxMemKiB <= 0 || st.MinorPageFaults <= 0 || st.Waits+st.Preemptions <= 0 {
			t.Errorf("busy run: %v, statistics %+v", out.res.Status, st)
		}
	})
}

// TestUserRunHostIDs looks at a run's processes from the host: all of them,
// init included, have the slot's own uid, and none the uid of root of the
// run's namespace, which only the sandbox's setup has.
func TestUserRunHostIDs(t *testing.T) {
	sb := newSandbox(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := &firstWrite{done: make(chan struct{})}
	var own, root []int
	var listErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		select {
		case <-ready.done:
		case <-time.After(timescale.D(10 * time.Second)):
			listErr = errors.New("the run never wrote")
			return
		}
		own, listErr = leftovers.Processes(testUIDBase, testUIDBase+1)
		if listErr == nil {
			root, listErr = leftovers.Processes(testUIDBase+1, testUIDBase+2)
		}
	}()
	out := runScriptCtx(t, ctx, sb, "sleep 30 & echo ready; wait", timescale.D(20*time.Second), asUser(testUser, testUser), func(s *job.Spec) {
		s.Stdout = ready
	})
	wg.Wait()
	if listErr != nil {
		t.Fatal(listErr)
	}
	// init, bash and sleep
	if len(own) < 3 || len(root) > 0 {
		t.Errorf("processes with the slot's uid: %v; with its namespace root's: %v", own, root)
	}
	if !out.res.Killed {
		t.Errorf("result %+v, want killed by the cancelled context", out.res)
	}
	assertNoLeftovers(t, sb)
}

// firstWrite closes done at its first Write.
type firstWrite struct {
	once sync.Once
	done chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.done) })
	return len(p), nil
}

func TestUserForkBombIsContained(t *testing.T) {
	sb := newSandbox(t, 2)
	testForkBomb(t, sb, asUser(testUser, testUser))
}

// TestReopenOutput: programs may reopen their output by name (tee
// /dev/stderr, > /dev/stdout, /proc/self/fd/1), as root of the namespace
// and as another user; init's report pipe stays closed to them.
func TestReopenOutput(t *testing.T) {
	sb := newSandbox(t, 1)
	script := `echo out > /dev/stdout; echo err > /dev/stderr; echo both | tee /dev/stderr; echo fd >> /proc/self/fd/1
if echo forged > /proc/1/fd/3; then echo report pipe writable; fi`
	for _, ids := range [][2]uint32{{0, 0}, {testUser, testUser}} {
		out := runScript(t, sb, script, timescale.D(10*time.Second), asUser(ids[0], ids[1]))
		if got, want := out.stdout.String(), "out\nboth\nfd\n"; got != want {
			t.Errorf("uid %d: stdout %q, want %q (stderr %q)", ids[0], got, want, out.stderr.String())
		}
		if got := out.stderr.String(); !strings.HasPrefix(got, "err\nboth\n") || !strings.Contains(got, "Permission denied") {
			t.Errorf("uid %d: stderr %q, want err, both and the report pipe refused", ids[0], got)
		}
	}
	assertNoLeftovers(t, sb)
}
