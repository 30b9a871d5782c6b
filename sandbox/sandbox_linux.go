package sandbox

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/mkdirs"
	"github.com/atod-project/atod/sandbox/job"
)

// Options configure a Sandbox.
type Options struct {
	// StateDir holds the state of running jobs (their job files and
	// writable roots); a tmpfs such as /run/atod is best. Startup removes
	// whatever an earlier daemon left in it.
	StateDir string
	// InitPath is the host path of the static atod-init binary: each
	// sandbox's setup, its init and its /ATO/yargs.
	InitPath string
	// BashPath is the host path of a static Bash (atod-bash, Debian's Bash
	// built with musl, or Debian's bash-static), mounted read-only at
	// job.BashPath in every run.
	BashPath string
	// UIDBase is the first of the 2*Slots host uids (and gids) runs are
	// mapped to. The processes of a run in slot i have UIDBase+i, whatever
	// their ids inside (job.Spec.UID and GID); UIDBase+Slots+i is root of
	// the run's user namespace when those are not 0, which only the
	// sandbox's setup ever is (see idMappings). The range
	// must belong to no user of the host. Unused when Rootless is set.
	UIDBase int
	// Rootless runs the sandbox without root, as runc's rootless containers
	// do: uid and gid 0 of every run are the daemon's own euid and egid on
	// the host (one uid for all runs and the daemon; per-slot uids need
	// root), and no other ids, so job.Spec.UID and GID must be 0; and job
	// cgroups are created in the daemon's cgroup v2, which must be
	// delegated to that uid. New refuses it, with ErrNoRootless and
	// what to do, on a host that cannot support it: cgroup v1, no
	// delegation, no unprivileged user namespaces, or a daemon with
	// supplementary groups. Without Rootless the daemon must be root.
	Rootless bool
	// Slots is the number of runs allowed at once; further runs wait.
	Slots int
	// Limits are the default limits of a run (zero fields: job.DefaultLimits).
	Limits job.Limits
	// ImageIDShift is how the image store keeps the owners of an image's
	// files: the image's uid or gid N (N > 0) is stored as ImageIDShift+N,
	// 0 as 0. Runs see them as N again through their idmapped root
	// (writableroot_linux.go). 0 means owners are stored as they are.
	ImageIDShift uint32
	// ImageRootUID and ImageRootGID are the host ids the image store keeps
	// an image's root files as: 0 in root's store, its owner's in a store
	// kept for a user (rootfs.Owner). A root daemon's runs see them as
	// root through their idmapped root; a rootless daemon sees its own
	// ids as root.
	ImageRootUID, ImageRootGID uint32
	// CgroupName names the daemon's job cgroup parent on cgroup v1.
	CgroupName string
	// CgroupView is the host path of the delegated cgroup that
	// EnterOwnMountNamespace mounted as the root of the daemon's view of the
	// cgroup2 tree; empty when the daemon sees the whole tree.
	CgroupView string
	// Trees hold the image trees of sandboxes prepared ahead, for runs
	// whose Spec names their Image. Nil prepares none: every run makes its
	// sandbox when it starts and tears it down before Run returns.
	Trees Trees
	// Prepared is how many sandboxes may wait prepared ahead, across all
	// images: at most Slots (more means Slots); 0 prepares none. Each holds
	// a slot: prepared and running sandboxes together are at most Slots.
	Prepared int
	// RunnersAhead starts the runner of each sandbox as it is made (ahead
	// of its run, or on the cold path just before its handover), sleeping
	// until the run's files are there (ahead_linux.go), where BashPath can
	// (atod-bash); otherwise every runner starts at the handover.
	RunnersAhead bool
	Logger       *slog.Logger
}

// Sandbox runs Specs. It is safe for concurrent use.
type Sandbox struct {
	stateLock *os.File // <StateDir>/lock, held while the Sandbox lives (lockStateDir)
	stateDir  string   // Options.StateDir
	jobsDir   string   // job files: <StateDir>/jobs
	rootsDir  string   // writable roots: <StateDir>/roots
	initPath  string
	initExec  *os.File // atod-init, opened once: what every sandbox starts (initproto.ExecFD)
	bashPath  string
	uidBase   int
	rootless  bool
	nofile    uint64   // RLIMIT_NOFILE of a run
	seccomp   *os.File // the compiled seccomp filter (seccompFile)
	shares    perUserShares
	limits    job.Limits
	cgroups   *cgroupTree
	slots     chan int
	chunks    sync.Pool // *[chunkSize]byte: output buffers (copyCapped), two a run
	log       *slog.Logger
	closeOnce sync.Once

	pool          *pool         // sandboxes prepared ahead (pool_linux.go)
	runnersAhead  bool          // prepared sandboxes start their runners (ahead_linux.go)
	writableRoots bool          // each run gets an overlay root (writableroot_linux.go)
	shared        *sharedMounts // the job files' and binaries' tmpfs, when it can mount
	idmaps        idmaps        // user namespaces that idmap trees for runs
	imageOwners   storedOwners  // Options.ImageIDShift, ImageRootUID, ImageRootGID
	noIdmap       sync.Once     // warns once that the store cannot be idmapped
}

// ErrNoInit is returned by New when the init binary is missing or unusable.
var ErrNoInit = errors.New("no usable sandbox init binary")

// ErrNoBash is returned by New when the static Bash is missing or unusable.
var ErrNoBash = errors.New("no usable static bash")

// ErrInUse is returned by New when another atod holds the cgroup parent or
// the state directory this one would use: it is running.
var ErrInUse = errors.New("is in use by another atod on this host")

// ErrUnsupportedUser is returned by Run for a job.Spec whose UID or GID the
// sandbox cannot give a run; see checkIDs.
var ErrUnsupportedUser = job.ErrUnsupportedUser

// maxRunID is the largest uid or gid a run may have inside. The kernel
// takes ids up to 2^32-2 (2^32-1 is "no id": setresuid(2) leaves an id of
// -1 unchanged), but some programs keep ids in signed 32-bit numbers, and
// systemd advises against ids of 2^31 and up for that reason
// (https://systemd.io/UIDS-GIDS/). The overflow id 65534 (nobody) is
// allowed: images run as it, and it only looks like the owner of the files
// whose owners are not mapped; the kernel compares the real ids.
const maxRunID = math.MaxInt32

// checkIDs refuses the ids inside that Run cannot give a run: ids above
// maxRunID, and, when rootless, any but 0. A rootless daemon can map only
// its own uid and gid into a run's user namespace (rootless_linux.go), and
// the sandbox's setup needs that one id for root of the namespace (idMappings);
// another id would take a second one, from newuidmap(1) and /etc/subuid.
func (s *Sandbox) checkIDs(uid, gid uint32) error {
	if uid > maxRunID || gid > maxRunID {
		return fmt.Errorf("%w: uid %d, gid %d: ids above %d are not allowed", ErrUnsupportedUser, uid, gid, maxRunID)
	}
	if s.rootless && (uid != 0 || gid != 0) {
		return fmt.Errorf("%w: uid %d, gid %d: a rootless sandbox runs everything as uid and gid 0 of the run's namespace (run atod as root for other ids)",
			ErrUnsupportedUser, uid, gid)
	}
	return nil
}

// checkStatic checks that path is a statically linked executable that the
// unprivileged uid of a run can read and execute: it is mounted into root
// filesystems that may have no C library.
func checkStatic(path string) error {
	if path == "" {
		return errors.New("no path given")
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o005 != 0o005 {
		return fmt.Errorf("%s is not a file that everyone may read and execute", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; it must be static", path)
		}
	}
	return nil
}

// New prepares a sandbox: it checks the init binary, sets up the daemon's
// cgroup tree (on cgroup v2 it moves the daemon into a supervisor leaf) and
// removes processes, cgroups and files left behind by an earlier daemon.
func New(opts Options) (_ *Sandbox, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("preparing sandbox: %w", err)
		}
	}()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Slots <= 0 {
		opts.Slots = 4
	}
	if opts.CgroupName == "" {
		opts.CgroupName = "atod"
	}
	// One directory below the daemon's own cgroup: "..", "." or a path
	// would put the job cgroups, and what a starting daemon kills as a dead
	// one's, elsewhere.
	if n := opts.CgroupName; n == "." || n == ".." || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return nil, fmt.Errorf("cgroup name %q: want one directory name of letters, digits, '.', '_' and '-', such as atod", n)
	}
	seccomp, err := seccompFile()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			seccomp.Close()
		}
	}()
	if !opts.Rootless && os.Geteuid() != 0 {
		return nil, errors.New("mapping each run to an unprivileged uid of its own needs root: run as root, or set Rootless")
	}
	if !opts.Rootless && opts.UIDBase <= 0 {
		return nil, errors.New("UIDBase must be a positive host uid")
	}
	// The last id of the range must be a valid one, below 2^32-1 (-1).
	if !opts.Rootless && int64(opts.UIDBase)+2*int64(opts.Slots) > math.MaxUint32 {
		return nil, fmt.Errorf("UIDBase %d leaves no room for the %d host uids of %d slots", opts.UIDBase, 2*opts.Slots, opts.Slots)
	}
	if opts.StateDir == "" {
		return nil, errors.New("no state directory given")
	}
	// Mount points are found by their path in the mount table, which
	// holds absolute paths without symlinks (/var/run is /run on Debian).
	if _, err := mkdirs.All(opts.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	state, err := filepath.Abs(opts.StateDir)
	if err == nil {
		state, err = filepath.EvalSymlinks(state)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving state directory: %w", err)
	}
	opts.StateDir = state
	// The state directory is one daemon's: what New does next (removing
	// what a dead one left, mounting) would pull a live one's runs away.
	// Its lock goes with the daemon (Close), or with its process.
	stateLock, err := lockStateDir(state)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stateLock.Close()
		}
	}()
	if err := checkStatic(opts.InitPath); err != nil {
		return nil, fmt.Errorf("%w: %v: build it with `make build` (a static C program: cmd/atod-init/atod-init.c)", ErrNoInit, err)
	}
	initExec, err := os.Open(opts.InitPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoInit, err)
	}
	defer func() {
		if err != nil {
			initExec.Close()
		}
	}()
	if err := checkStatic(opts.BashPath); err != nil {
		return nil, fmt.Errorf("%w: %v: install Debian's bash-static (apt-get install bash-static), build atod-bash (make setup) or name a static Bash", ErrNoBash, err)
	}
	if opts.Rootless {
		if err := checkRootless(opts.BashPath); err != nil {
			return nil, err
		}
	}
	limits := opts.Limits.WithDefaults(job.DefaultLimits)
	files, err := fileMax()
	if err != nil {
		return nil, err
	}
	nofile, fits, err := openFilesLimit(opts.Rootless, opts.Slots, limits.Pids, files)
	if err != nil {
		return nil, err
	}
	if !fits {
		opts.Logger.Warn("the host's file table cannot hold every task of every run at the least open files limit: runs could fill it; raise fs.file-max or lower concurrency or pids",
			"fs.file-max", files, "concurrency", opts.Slots, "pids", limits.Pids, "open_files", nofile,
			"needed", 2*uint64(opts.Slots)*uint64(limits.Pids)*minOpenFiles)
	}
	if opts.Rootless {
		// Advice only: a host that hides these sysctls still serves.
		watches, werr := sysctl("fs.epoll.max_user_watches")
		pipeHard, perr := sysctl("fs.pipe-user-pages-hard")
		if err := errors.Join(werr, perr); err != nil {
			opts.Logger.Warn("cannot check the per-user counts that rootless runs share", "err", err)
		} else {
			for _, w := range rootlessCountWarnings(opts.Slots, limits.MemoryBytes, watches, pipeHard) {
				opts.Logger.Warn(w)
			}
		}
	}
	shares, err := sharesOf(opts.Slots)
	if err != nil {
		return nil, err
	}
	tree, err := newCgroupTree(opts.CgroupName, opts.CgroupView != "", opts.Rootless, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil { // let go of the cgroup parents for the next try
			tree.removeParents()
		}
	}()
	s := &Sandbox{
		stateLock: stateLock,
		stateDir:  opts.StateDir,
		jobsDir:   filepath.Join(opts.StateDir, "jobs"),
		rootsDir:  filepath.Join(opts.StateDir, "roots"),
		initPath:  opts.InitPath,
		initExec:  initExec,
		bashPath:  opts.BashPath,
		uidBase:   opts.UIDBase,
		rootless:  opts.Rootless,
		// Root, or root of the daemon's own user namespace.
		writableRoots: os.Geteuid() == 0,
		nofile:        nofile,
		seccomp:       seccomp,
		shares:        shares,
		limits:        limits,
		cgroups:       tree,
		slots:         make(chan int, opts.Slots),
		log:           opts.Logger,

		idmaps:      idmaps{helper: opts.BashPath},
		imageOwners: storedOwners{shift: opts.ImageIDShift, rootUID: opts.ImageRootUID, rootGID: opts.ImageRootGID},
	}
	for i := range opts.Slots {
		s.slots <- i
	}
	for _, d := range []string{s.jobsDir} {
		if err := os.Mkdir(d, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
	}
	// Mounting a run's writable root takes root, or root of a user
	// namespace of the daemon's own (EnterUserNS); otherwise a run's root
	// is the image's tree, read-only.
	if s.writableRoots {
		if err := os.Mkdir(s.rootsDir, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		if !s.rootless {
			// Its tmpfs (mountShared, mode 0711) hides the directory.
			if err := checkSearchable(filepath.Dir(s.rootsDir)); err != nil {
				return nil, err
			}
		}
	}
	if err := s.removeStale(); err != nil {
		return nil, err
	}
	// After removeStale, which takes away the child cgroups that would
	// keep it from sharing the device cgroup.
	if err := s.cgroups.restrictDevices(); err != nil {
		return nil, err
	}
	if s.writableRoots {
		if s.shared, err = mountShared(opts.StateDir, s.jobsDir, s.rootsDir, s.initPath, s.bashPath, opts.Slots); err != nil {
			return nil, err
		}
		if err := s.probeRoots(); err != nil {
			return nil, errors.Join(err, s.shared.unmount())
		}
	}
	if opts.RunnersAhead {
		if err := probeBashWait(s.bashPath); err != nil {
			s.log.Info("runners start when their job is handed over, not ahead", "why", err)
		} else {
			s.runnersAhead = true
		}
	}
	// Last: its refiller starts preparing at once.
	if s.pool, err = newPool(s, opts.Trees, min(max(opts.Prepared, 0), opts.Slots), opts.StateDir); err != nil {
		if s.shared != nil {
			err = errors.Join(err, s.shared.unmount())
		}
		return nil, err
	}
	return s, nil
}

// Slots is the number of runs the sandbox allows at once.
func (s *Sandbox) Slots() int { return cap(s.slots) }

// Limits are the limits a run gets when its job.Spec sets none.
func (s *Sandbox) Limits() job.Limits { return s.limits }

// removeStale cleans up after a daemon that died mid-run: its runs'
// processes (an init ends when the daemon's end of its pipes closes; what is
// left is killed through the job cgroups), their cgroups, writable roots and
// job files.
func (s *Sandbox) removeStale() error {
	var errs []error
	if err := s.cgroups.removeStale(); err != nil {
		errs = append(errs, err)
	}
	// What atod kept here when it started runs through libcontainer
	// (before issue 13): its state of each run, whose processes the job
	// cgroups held.
	if err := os.RemoveAll(filepath.Join(s.stateDir, "containers")); err != nil {
		errs = append(errs, err)
	}
	if s.writableRoots {
		// The roots' mounts went with the earlier daemon's mount
		// namespace; what cannot be removed is set aside, not fatal: a
		// new root never reuses a name.
		s.removeStaleRoots()
	}

	jobs, _ := os.ReadDir(s.jobsDir)
	for _, e := range jobs {
		if err := os.RemoveAll(filepath.Join(s.jobsDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing stale state: %w", err)
	}
	return nil
}

// Close waits for running jobs to end, then removes the daemon's cgroup
// parent. It does not cancel the jobs: cancel their contexts first for a
// fast shutdown. Run must not be called after Close.
func (s *Sandbox) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.pool.close()
		for range cap(s.slots) {
			<-s.slots
		}
		err = errors.Join(err, s.cgroups.removeParents())
		s.idmaps.close()
		if s.shared != nil {
			err = errors.Join(err, s.shared.unmount())
		}
		s.initExec.Close()
		s.seccomp.Close()
		s.stateLock.Close()
	})
	return err
}

// lockStateDir takes the state directory's lock file, <state>/lock, for
// this daemon alone.
func lockStateDir(state string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(state, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s %w: give each daemon a --state of its own", state, ErrInUse)
		}
		return nil, fmt.Errorf("locking state directory %s: %w", state, err)
	}
	return f, nil
}

// Run runs spec and returns how it ended. A run whose ctx ends is killed at
// once and reported killed/9 with Result.Killed set. Errors are failures of
// the sandbox itself, never of the program.
//
// A run takes a sandbox prepared ahead for its template when one waits
// (Options.Trees), and otherwise makes one (the cold path); either way the
// sandbox is used once. Its teardown comes after Run returns when the
// sandbox holds its image's tree itself, and before otherwise.
func (s *Sandbox) Run(ctx context.Context, spec job.Spec) (res job.Result, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("running job: %w", err)
		}
	}()
	if err := s.checkIDs(spec.UID, spec.GID); err != nil {
		return res, err
	}
	if n := jobFilesSize(&spec.Files); n > maxJobFiles {
		return res, fmt.Errorf("writing job files: %d bytes of code, input, options, arguments and runner; a run may have %d", n, maxJobFiles)
	}
	if ctx.Err() != nil { // its caller gave up already: no sandbox spent on it
		return job.Result{Killed: true, Status: job.Status{Type: job.StatusKilled, Value: int(syscall.SIGKILL)}}, nil
	}
	l := spec.Limits.WithDefaults(s.limits)
	key := templateOf(&spec, l)
	p, done, err := s.pool.sandboxFor(ctx, key)
	defer done()
	if err != nil {
		return res, err
	}
	res, err = p.run(ctx, &spec, outputCaps{stdout: l.StdoutBytes, stderr: l.StderrBytes})
	if p.hold == nil {
		return res, errors.Join(err, p.teardown())
	}
	p.logTeardown(s.log)
	return res, err
}

// hostIDs are the host ids of a run's user namespace (see idMappings).
type hostIDs struct {
	// uid and gid are the ids of the run's processes: spec.UID and
	// spec.GID inside.
	uid, gid int
	// rootUID and rootGID are root of the namespace when spec.UID and
	// spec.GID are not 0; -1 when the sandbox has none (rootless).
	rootUID, rootGID int
}

// slotHostIDs are the host ids of a run in slot: unprivileged ids of the
// slot's own, or the daemon's own ids when rootless.
func (s *Sandbox) slotHostIDs(slot int) hostIDs {
	if s.rootless {
		return hostIDs{uid: os.Geteuid(), gid: os.Getegid(), rootUID: -1, rootGID: -1}
	}
	run, root := s.uidBase+slot, s.uidBase+cap(s.slots)+slot
	return hostIDs{uid: run, gid: run, rootUID: root, rootGID: root}
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return jobPrefix + hex.EncodeToString(b[:])
}
