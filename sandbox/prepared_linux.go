package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
	"github.com/atod-project/atod/sandbox/job"
)

// prepared is a sandbox made ahead of its run: its job cgroup, writable
// root, namespaces, mounts, seccomp filter, uid slot and init are ready,
// init waiting on its job pipe, and with Options.RunnersAhead so is the
// runner, waiting on its gate (ahead_linux.go). A request only writes its
// files and hands init the job, or lets the runner go on (run); the sandbox
// is used once and then torn down.
//
// Every prepared sandbox holds one of the Sandbox's slots from prepare to
// the end of its teardown, so that prepared and running sandboxes together
// never exceed Slots, and a slot's uid is never shared by two sandboxes.
type prepared struct {
	s       *Sandbox
	key     template
	slot    int
	ids     hostIDs
	id      string
	scratch string // the job files' directory
	cg      *jobCgroup
	root    *writableRoot // nil: the image's tree, read-only
	init    *os.Process   // the setup, then init: PID 1 of the sandbox
	hold    func()        // lets go of the image's tree; nil when nothing holds it

	stdout, stderr, report *os.File // read ends
	job                    *os.File // write end of init's job pipe
	stdin                  *os.File // write end of an interactive run's stdin pipe (init's stdin)
	waited                 chan struct{}

	// ahead: the runner started with the sandbox, and waits on its gate
	// until the run's files are there (ahead_linux.go); otherwise it
	// starts at the handover.
	ahead bool

	// endReported: init reported its run's end, after it had killed and
	// reaped every other process of its pid namespace; it exits by itself.
	endReported bool
}

// prepare makes a sandbox for key in slot, which it owns from now on, as it
// does hold: on error it has killed and torn down what it made, released
// hold and given the slot back.
func (s *Sandbox) prepare(key template, slot int, hold func()) (_ *prepared, err error) {
	p := &prepared{s: s, key: key, slot: slot, ids: s.slotHostIDs(slot), id: newJobID(), hold: hold}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("preparing a sandbox: %w", err), p.teardown())
		}
	}()
	if st, err := os.Stat(filepath.Join(key.rootfs, "ATO")); err != nil || !st.IsDir() {
		return p, fmt.Errorf("root filesystem %s has no /ATO directory to mount the job on (images installed by atod have one)", key.rootfs)
	}
	if p.scratch, err = s.makeJobDir(p.id); err != nil {
		return p, err
	}
	if p.cg, err = s.cgroups.create(p.id, key.limits, s.rootless); err != nil {
		return p, err
	}
	rootfs := key.rootfs
	if s.writableRoots {
		if p.root, err = s.mountWritableRoot(p.id, key.rootfs, p.ids, key.uid, key.gid, key.limits.RootBytes); err != nil {
			return p, err
		}
		rootfs = p.root.path()
	}
	if err := p.start(s.setupPlan(&key, rootfs, p.scratch)); err != nil {
		return p, err
	}
	if s.runnersAhead && key.start != "" {
		// The runner starts now, and waits on its gate. The job pipe
		// stays open: StartRunner goes through it.
		if _, err = p.job.Write([]byte(key.start)); err != nil {
			return p, fmt.Errorf("starting the runner: %w", err)
		}
		p.ahead = true
	}
	return p, nil
}

// start starts the sandbox: atod-init's first stage clones its PID 1 in new
// namespaces (the daemon's child), which the daemon puts in the job cgroup
// and hands plan; PID 1 carries it out and execs init, which waits for its
// job. It returns when init is waiting, or with why the sandbox failed.
func (p *prepared) start(plan initproto.Plan) error {
	wire, err := plan.Encode()
	if err != nil {
		return err
	}
	pipes, err := newPipes(6)
	if err != nil {
		return err
	}
	stdout, stderr, report, job, setup, statusPipe := pipes[0], pipes[1], pipes[2], pipes[3], pipes[4], pipes[5]
	statusR := statusPipe.r
	// Ours from now on: closed by closeEnds.
	p.stdout, p.stderr, p.report, p.job = stdout.r, stderr.r, report.r, job.w
	defer setup.w.Close()
	defer statusR.Close()
	// The sandbox's ends: it holds its own copies once started.
	theirs := []*os.File{stdout.w, stderr.w, report.w, job.r, setup.r, statusPipe.w}
	closeTheirs := func() {
		for _, f := range theirs {
			f.Close()
		}
	}
	defer closeTheirs()
	// Programs reopen their output through /dev/stdout, /dev/stderr or
	// /proc/self/fd/N (tee /dev/stderr, say), which checks the pipe's
	// owner and mode (0600): the output pipes are the run's. init's
	// report and job pipes stay the daemon's, so that the run cannot
	// reopen them.
	for _, w := range []*os.File{stdout.w, stderr.w} {
		if err := w.Chown(p.ids.uid, p.ids.gid); err != nil {
			return fmt.Errorf("giving the run its output pipes: %w", err)
		}
	}
	// An interactive run's stdin is a pipe the daemon feeds: init's own
	// stdin, which /ATO/input links to (/proc/self/fd/0: the runner's
	// "< /ATO/input" reopens it, as a pipe reopens, without waiting
	// for a writer). The run's, like its output pipes.
	var stdin *os.File
	if p.key.interactive {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("making the run's stdin: %w", err)
		}
		p.stdin, stdin = w, r
		theirs = append(theirs, r)
		if err := r.Chown(p.ids.uid, p.ids.gid); err != nil {
			return fmt.Errorf("giving the run its stdin: %w", err)
		}
	}
	s := p.s
	first := &exec.Cmd{
		// atod-init through its descriptor (initproto.ExecFD): no
		// directory of its host path need be searchable by the
		// sandbox's ids.
		Path: "/proc/self/fd/" + strconv.Itoa(initproto.ExecFD),
		// It clones the sandbox's namespaces and writes their id
		// maps. Rootless, setgroups is denied before the gid map is
		// written (user_namespaces(7)); otherwise the setup empties
		// the run's groups.
		Args: initproto.SetupArgs(idMappings(p.key.uid, p.ids.uid, p.ids.rootUID),
			idMappings(p.key.gid, p.ids.gid, p.ids.rootGID), !s.rootless),
		Env:    []string{}, // init's; the runner's comes with the job
		Stdin:  stdin,      // nil: /dev/null
		Stdout: stdout.w,
		Stderr: stderr.w,
		// initproto.FD, JobFD, SetupFD, StatusFD, SeccompFD, ExecFD.
		ExtraFiles: []*os.File{report.w, job.r, setup.r, statusPipe.w, s.seccomp, s.initExec},
		// A session of its own: nothing of the daemon's session or
		// terminal reaches the sandbox. No namespace: Go starts a
		// process that makes none without copying the daemon's page
		// tables (vfork), and such a copy made every later write of
		// the daemon's fault once (4 times the daemon's page faults, 1.7
		// times its CPU, 3 ms more on a trivial round trip).
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := first.Start(); err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	closeTheirs() // so that the status pipe ends when the sandbox's end does
	// The first line: the sandbox's process id (its PID 1, cloned as the
	// daemon's own child); or why there is none.
	status := bufio.NewReader(statusR)
	pid, said, perr := initproto.ReadPID(status)
	ferr := first.Wait()
	if perr != nil {
		rest, _ := io.ReadAll(io.LimitReader(status, 4096))
		if why := strings.TrimSpace(said + string(rest)); why != "" {
			return errors.New(why)
		}
		return fmt.Errorf("starting the sandbox: it ended without naming its process: %w", errors.Join(ferr, perr))
	}
	// The sandbox is the daemon's child, unreaped until the waiter below
	// has it: its number is no other process's until then.
	if p.init, err = os.FindProcess(pid); err != nil {
		return fmt.Errorf("finding the sandbox's process: %w", err)
	}
	if ferr == nil {
		err = p.configure(pid)
	} else {
		// The first stage failed after the clone, and killed the
		// sandbox: the waiter reaps it, the status says why.
		err = ferr
	}
	p.waited = make(chan struct{})
	go func() {
		defer close(p.waited)
		_, _ = p.init.Wait() // the status of init; the runner's comes in the report
	}()
	if err != nil {
		if why, _ := io.ReadAll(io.LimitReader(status, 4096)); len(why) > 0 {
			return errors.New(strings.TrimSpace(string(why)))
		}
		return err // the setup ends at its plan's end of file
	}
	// The plan goes last: the setup waits for it to make the cgroup
	// namespace, rooted in the job cgroup.
	_, werr := setup.w.Write(wire)
	setup.w.Close()
	rest, rerr := io.ReadAll(io.LimitReader(status, 4096))
	return setupOutcome(string(rest), werr, rerr)
}

// dead says why an idle sandbox cannot serve a run, or "": its init died
// while it waited (the OOM killer takes the biggest process first), or its
// runner, started ahead, ended.
func (p *prepared) dead() string {
	select {
	case <-p.waited:
		return "a prepared sandbox's init died while it waited"
	default:
	}
	if p.report != nil && p.ended() {
		return "a prepared sandbox's runner ended while it waited"
	}
	return ""
}

// ended reports whether init has said anything, or closed its report
// pipe: a runner started ahead ended before its run (the OOM killer takes
// the biggest process, the runner's Bash), and init has reported it.
func (p *prepared) ended() bool {
	rc, err := p.report.SyscallConn()
	if err != nil {
		return true
	}
	ready := false
	if err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		// A signal (the runtime's preemption, SIGURG) interrupts
		// even a poll that does not wait: that is no report.
		var n int
		err := ignoringEINTR(func() (err error) { n, err = unix.Poll(fds, 0); return err })
		ready = err != nil || n > 0
	}); err != nil {
		return true
	}
	return ready
}

// setupOutcome is how a sandbox's setup ended, given what its status pipe
// said after the first line: initproto.Ready from init, a line from the
// setup saying why it failed, or nothing (the setup or init died; errs are
// what handing over the plan and reading the status met).
func setupOutcome(said string, errs ...error) error {
	switch {
	case said == initproto.Ready:
		return nil
	case said != "":
		return errors.New(strings.TrimSpace(said))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("setting up the sandbox: it ended before its init was ready: %w", err)
	}
	return errors.New("setting up the sandbox: it ended before its init was ready, without a word")
}

// configure puts the setup process pid in the job cgroup, and gives it the
// run's resource limits and OOM score, before it has its plan.
func (p *prepared) configure(pid int) error {
	err := p.cg.join(pid)
	p.cg.joined() // nothing else joins it
	if err != nil {
		return err
	}
	for resource, limit := range p.s.rlimits() {
		if err := unix.Prlimit(pid, resource, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
			return fmt.Errorf("setting the sandbox's resource limit %d: %w", resource, err)
		}
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(oomScoreAdj)), 0); err != nil {
		return fmt.Errorf("setting the sandbox's OOM score: %w", err)
	}
	return nil
}

// run hands spec's files and command to the waiting init and reports how
// the run ended. The sandbox is spent afterwards, whatever happened: its
// caller tears it down.
func (p *prepared) run(ctx context.Context, spec *job.Spec, caps outputCaps) (res job.Result, err error) {
	// Before the job starts: a run whose CPU time cannot be watched does
	// not start (teardown ends the waiting sandbox).
	cpuOver, err := p.cg.watchCPU(spec.Limits.CPUTime, p.key.limits.CPUs, p.waited)
	if err != nil {
		return res, fmt.Errorf("watching the run's CPU time: %w", err)
	}
	if err := writeJobFiles(p.scratch, &spec.Files, p.key.interactive); err != nil {
		return res, err
	}
	if p.key.interactive {
		feedStdin(p.stdin, spec.Files.Input, spec.Stdin)
		defer p.stdin.Close() // the run is over: no more of its stdin
	}
	if len(spec.Files.Context) > 0 {
		if err := writeContextFiles(p.init.Pid, p.waited, spec.Files.Context, p.ids.uid, p.ids.gid); err != nil {
			return res, err
		}
	}
	var werr error
	if p.ahead { // the runner waits on its gate (ahead_linux.go)
		if _, err := p.job.Write([]byte{initproto.StartRunner}); err != nil {
			werr = fmt.Errorf("letting the runner go on: %w", err)
		}
		// The job pipe stays open until teardown: closing it now would
		// wake init while the run starts, for nothing.
	} else {
		werr = initproto.WriteJob(p.job, initproto.Job{Command: spec.Command, Env: spec.Env})
		p.job.Close()
	}
	started := time.Now()
	if werr != nil {
		// init died while it waited (the memory limit, say), or the job
		// is too big for it: teardown ends what is left.
		return res, werr
	}

	// Output readers: owned here, waited for below.
	var wg sync.WaitGroup
	var outErr, errErr error
	wg.Go(func() {
		buf, put := p.s.chunk()
		defer put()
		res.StdoutTruncated, outErr = copyCapped(p.stdout, spec.Stdout, caps.stdout, buf)
	})
	wg.Go(func() {
		buf, put := p.s.chunk()
		defer put()
		res.StderrTruncated, errErr = copyCapped(p.stderr, spec.Stderr, caps.stderr, buf)
	})

	// init's report: it comes once init has killed and reaped every other
	// process of the run, and closed its own copies of the output pipes.
	var rep initproto.Report
	var repErr error
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		rep, repErr = initproto.Read(p.report)
	}()

	timer := time.NewTimer(spec.Timeout)
	defer timer.Stop()
	memoryOver := p.cg.watchMemory(p.waited, p.s.log)
	var end runEnd
	var cpuErr error
	reportedEnd := false // init said the run is over: nothing of it is left but init
	select {
	case <-reported:
		reportedEnd = repErr == nil
	case <-p.waited:
		// init is gone, and with it every process of its pid namespace:
		// the report pipe has ended. Its exit and its report are often
		// ready together, and select picks either: an init that reported
		// before it exited ended its run as usual (taken for a death,
		// one run in seven at 2 clients paid for a kill through the
		// cgroup and every hierarchy's statistics).
		<-reported
		reportedEnd = repErr == nil
	case <-timer.C:
		end.timedOut = true
	case <-ctx.Done():
		end.killed = true
	case <-memoryOver:
		end.outOfMemory = true
	case cpuErr = <-cpuOver:
		// Unwatched, the run's CPU time would be bounded by its timeout
		// only: it ends now, as a failure of the sandbox's if that is why.
		end.cpuTime = cpuErr == nil
		end.killed = cpuErr != nil
	}
	var killErr error
	p.endReported = reportedEnd
	if reportedEnd {
		// The usual end. init is exiting: tearing its namespaces down
		// takes a while, and the answer need not wait for it. Teardown
		// waits for it after the answer has gone (stop).
		end.real = time.Since(started)
	} else {
		p.s.log.Debug("a run ends without init's report of its end: killing it through its cgroup", "id", p.id,
			"timed_out", end.timedOut, "killed", end.killed, "out_of_memory", end.outOfMemory, "cpu_time", end.cpuTime)
		// Kill through the cgroup even after init's end: init has
		// killed everything in its pid namespace, so this only makes
		// sure.
		killErr = p.cg.killAndWait()
		if killErr != nil {
			// The cgroup failed us: killing init from outside its pid
			// namespace takes every process of the namespace with it.
			_ = p.init.Signal(syscall.SIGKILL)
		}
		<-p.waited
		end.real = time.Since(started)
		<-reported // init is gone: the pipe has ended
	}
	wg.Wait()
	if killErr != nil {
		return res, killErr
	}
	if cpuErr != nil {
		return res, fmt.Errorf("watching the run's CPU time: %w", cpuErr)
	}
	stats := p.cg.stats
	if reportedEnd {
		stats = p.cg.endStats // the rest is in the report
	}
	cgs, statErr := stats()
	if statErr != nil {
		p.s.log.Warn("reading job statistics", "err", statErr)
	}
	var warning string
	res, warning, err = resultOf(end, rep, repErr, cgs, res)
	if warning != "" {
		p.s.log.Warn("sandbox init", "err", warning)
	}
	if err != nil {
		return res, err
	}
	if err := errors.Join(outErr, errErr); err != nil {
		return res, fmt.Errorf("copying output: %w", err)
	}
	return res, nil
}

// stop ends every process of the sandbox, unless init is gone already (a
// run's end other than the one init reported kills the rest through the
// cgroup before it waits for init). After the end init reported, init alone
// is left and exits by itself: stop waits for it, for initExitTimeout at
// most. Otherwise closing the job pipe ends an init that waits for its job,
// or whose runner waits on its gate (it kills the runner and exits without
// a word); the kill through the cgroup makes sure.
func (p *prepared) stop() error {
	if p.job != nil {
		p.job.Close()
	}
	if p.cg == nil {
		return nil
	}
	if p.waited != nil {
		if p.endReported {
			// Nothing of the run is left but init, which is tearing its
			// namespaces down: waiting for it spares the kill's walk of
			// the cgroup (on v1, a read of every pids directory).
			t := time.NewTimer(initExitTimeout)
			defer t.Stop()
			select {
			case <-p.waited:
				return nil
			case <-t.C:
				p.s.log.Warn("a sandbox's init did not exit after it reported its run's end: killing it through the cgroup", "id", p.id, "waited", initExitTimeout)
			}
		} else {
			select {
			case <-p.waited:
				return nil
			default:
			}
		}
	}
	err := p.cg.killAndWait()
	if err != nil && p.init != nil {
		// Killing init from outside its pid namespace takes every
		// process of the namespace with it.
		_ = p.init.Signal(syscall.SIGKILL)
	}
	if p.waited != nil {
		<-p.waited
	}
	return err
}

// teardown ends every process of the sandbox (stop: a sandbox never used, or
// only partly made, still has its init), removes what prepare made in the
// reverse order, and gives its slot back. It runs once.
func (p *prepared) teardown() error {
	errs := []error{p.stop()}
	p.closeEnds()
	if p.root != nil { // a root left mounted is a failure of the run
		errs = append(errs, p.root.remove())
	}
	if p.cg != nil {
		errs = append(errs, p.cg.delete())
	}
	if p.scratch != "" {
		if err := removeDir(p.scratch, jobFiles, nil); err != nil {
			errs = append(errs, fmt.Errorf("removing job files: %w", err))
		}
	}
	if p.hold != nil {
		p.hold()
	}
	p.s.slots <- p.slot
	p.s.pool.signal() // a slot for the refiller
	return errors.Join(errs...)
}

// removeDir removes dir, which was made with the files and the empty
// directories named (relative to it, the deepest first): an unlink or a
// rmdir each, where os.RemoveAll would try to unlink each directory first,
// then open and list it (about 1 % of the machine's CPU under load, issue
// 13). Anything else in dir is left to os.RemoveAll, unless dir or one of
// the directories is a mount point (rmdir says EBUSY): removing through it
// would delete what is mounted there.
func removeDir(dir string, files, dirs []string) error {
	for _, f := range files {
		_ = ignoringEINTR(func() error { return unix.Unlink(filepath.Join(dir, f)) })
	}
	rmdir := func(p string) error {
		err := ignoringEINTR(func() error { return unix.Rmdir(p) })
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("removing %s: it is a mount point: %w", p, err)
		}
		return err
	}
	for _, d := range dirs {
		if err := rmdir(filepath.Join(dir, d)); errors.Is(err, unix.EBUSY) {
			return err
		}
	}
	err := rmdir(dir)
	switch {
	case err == nil || errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY):
		return err
	}
	return os.RemoveAll(dir)
}

func (p *prepared) closeEnds() {
	for _, f := range []*os.File{p.stdout, p.stderr, p.report, p.job, p.stdin} {
		if f != nil {
			f.Close()
		}
	}
}

// outputCaps are how many bytes of each stream a run keeps.
type outputCaps struct{ stdout, stderr int64 }

// pipePair is a pipe whose write end goes to the run.
type pipePair struct{ r, w *os.File }

func newPipes(n int) ([]pipePair, error) {
	ps := make([]pipePair, 0, n)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			for _, p := range ps {
				p.r.Close()
				p.w.Close()
			}
			return nil, fmt.Errorf("creating pipe: %w", err)
		}
		ps = append(ps, pipePair{r, w})
	}
	return ps, nil
}

// makeJobDir makes the directory of a run's job files, each there already
// (empty) so that the sandbox can bind-mount them before the job comes.
func (s *Sandbox) makeJobDir(id string) (string, error) {
	dir := filepath.Join(s.jobsDir, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating job directory: %w", err)
	}
	for _, name := range jobFiles {
		if err := writeExclusive(filepath.Join(dir, name), nil); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// feedStdin feeds an interactive run's stdin pipe w: input, then what
// stdin gives, in a goroutine of its own; at stdin's EOF it closes w, which
// the run reads as the end of its stdin. The run's end closes w too (its
// sandbox's teardown), ending a write the run does not take; a Read of
// stdin that waits for a client ends when the caller ends it.
func feedStdin(w *os.File, input []byte, stdin io.Reader) {
	go func() {
		defer w.Close()
		if _, err := w.Write(input); err != nil {
			return
		}
		_, _ = io.Copy(w, stdin)
	}()
}

// writeJobFiles writes the runner contract's files into a job directory
// (makeJobDir's); Run has checked their size (jobFilesSize). They stay
// read-only for everyone: the daemon writes as their owner, briefly allowed,
// and the run sees them through read-only bind mounts.
func writeJobFiles(dir string, f *job.Files, interactive bool) error {
	// An interactive run's input goes to its stdin pipe (feedStdin).
	contents := map[string][]byte{
		"code":      f.Code,
		"input":     f.Input,
		"options":   nulTerminated(f.Options),
		"arguments": nulTerminated(f.Arguments),
		"runner":    f.Runner,
	}
	for _, name := range jobFiles {
		if name == "input" && interactive {
			continue // the stdin pipe's
		}
		if err := fillReadOnly(filepath.Join(dir, name), contents[name]); err != nil {
			return err
		}
	}
	return nil
}

// jobFilesSize is what f's files hold together, as writeJobFiles writes
// them.
func jobFilesSize(f *job.Files) int {
	n := len(f.Code) + len(f.Input) + len(f.Runner)
	for _, e := range f.Options {
		n += len(e) + 1
	}
	for _, e := range f.Arguments {
		n += len(e) + 1
	}
	return n
}

// fillReadOnly writes b into the empty read-only file at path, keeping its
// inode (the run's bind mount shows that one).
func fillReadOnly(path string, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return fmt.Errorf("writing job file %s: %w", filepath.Base(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write(b)
		err = errors.Join(err, f.Close())
	}
	if cerr := os.Chmod(path, 0o444); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing job file %s: %w", filepath.Base(path), err)
	}
	return nil
}

func writeExclusive(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("creating job file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing job file %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing job file %s: %w", filepath.Base(path), err)
	}
	return nil
}

func nulTerminated(entries [][]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = append(b, e...)
		b = append(b, 0)
	}
	return b
}

// logTeardown tears p down in the background, after its answer has gone:
// its errors can only be logged.
func (p *prepared) logTeardown(log *slog.Logger) {
	go func() {
		if err := p.teardown(); err != nil {
			log.Error("tearing down a run's sandbox", "id", p.id, "err", err)
		}
	}()
}
