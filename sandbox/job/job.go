// Package job holds the data of one sandboxed run: the self-contained Spec
// a caller hands the sandbox and the Result it gets back. It is pure data,
// with no Linux or sandbox dependency, so that front ends (package
// server) can build specs and read results on any platform.
package job

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Paths of the runner contract inside the sandbox that callers name in a
// Spec's Command.
const (
	// BashPath is the static Bash the sandbox provides read-only in every
	// run, so that runners work in images without a Bash of their own.
	BashPath = "/ATO/bash"
	// RunnerPath holds Files.Runner.
	RunnerPath = "/ATO/runner"
)

// RunnerCommand runs the job's runner script with the sandbox's Bash.
func RunnerCommand() []string { return []string{BashPath, RunnerPath} }

// Spec is everything one run needs, self-contained: the sandbox knows nothing
// of languages, runners or the wire protocol. Callers build a Spec from a
// validated request; the sandbox turns it into a contained run.
type Spec struct {
	// Image names the image whose tree Rootfs is. A sandbox that prepares
	// sandboxes ahead (sandbox.Options.Trees) does so per image, and holds
	// the image's tree by this name; empty, none is prepared for the run.
	Image string
	// Rootfs is the host path of the root filesystem to run in. It is
	// never changed: a sandbox run as root gives each run a writable
	// overlay of it whose writes vanish with the run (Limits.RootBytes); a
	// rootless one mounts it read-only. It must be readable by the
	// unprivileged host uids the run is mapped to (mode o+rx on every
	// directory leading to it).
	Rootfs string

	// Files appear read-only under /ATO inside the sandbox (the runner
	// contract): code, input, options, arguments and runner.
	Files Files

	// Command is run inside the sandbox by the sandbox's init, with stdin
	// from /ATO/input and the working directory /ATO/context; usually
	// RunnerCommand().
	Command []string

	// Env is the complete environment of Command. Nothing of the daemon's
	// environment is passed through.
	Env []string

	// UID and GID are the user and group that every process of the run has
	// inside the sandbox, that is in the run's user namespace: usually the
	// User of the image's config, so that programs that refuse to run as
	// root, or expect to own their files, behave as they do in the image.
	// 0 (the zero value) is root of that namespace, which holds no
	// capabilities on the host either way, and none inside either: the
	// sandbox drops them all. The run has no supplementary groups.
	//
	// Whatever they are, the run's processes have the one unprivileged host
	// uid and gid of the sandbox slot the run gets, so a non-zero UID gives
	// a run no more and no less access to the host than 0 does. Inside, it
	// gives less: the writable /ATO and /ATO/context belong to UID and GID,
	// and /tmp and /dev/shm are anyone's (mode 1777), but what belongs to
	// root of the namespace (/dev, say) is not the run's. In a sandbox run
	// as root, the run sees Rootfs through an idmapped mount: the image's
	// root files (see sandbox.Options.ImageRootUID) belong to root of the
	// namespace, and those of the
	// image's user (see sandbox.Options.ImageIDShift) to UID and GID. Files
	// of other owners, and every file of a rootless sandbox's Rootfs that
	// the daemon does not own, appear owned by the overflow ids nobody and
	// nogroup (65534), and only their permission bits for others apply.
	//
	// The sandbox refuses ids above 2^31-1, and, when it is rootless, any id
	// but 0 (ErrUnsupportedUser).
	UID, GID uint32

	// Timeout is the wall-clock limit of Command; when it passes, every
	// process of the run is killed and Result.TimedOut is set.
	Timeout time.Duration

	// Stdout and Stderr receive the run's output as it appears, each cut
	// after the corresponding limit in Limits. They may be nil to discard.
	// A Write must not block for long: the run's writers wait for it.
	Stdout, Stderr io.Writer

	// Limits overrides the sandbox's default limits where non-zero.
	Limits Limits

	// Stdin, if not nil, makes the run interactive: /ATO/input is a pipe
	// (a FIFO) that gets Files.Input, then what Stdin gives until its EOF,
	// which closes it. A sandbox does not wait for Stdin's Read once the
	// run is over: the caller must end it then (Close), or the copying
	// goroutine stays with it.
	Stdin io.Reader
}

// ErrUnsupportedUser is wrapped by a sandbox's error for a Spec whose UID or
// GID it cannot give a run.
var ErrUnsupportedUser = errors.New("unsupported user for a run")

// Files are the contents of the runner contract's files under /ATO.
type Files struct {
	Code      []byte
	Input     []byte
	Options   [][]byte // each written followed by a NUL byte
	Arguments [][]byte // each written followed by a NUL byte
	Runner    []byte

	// Context are files written into the working directory, /ATO/context,
	// before Command starts, owned by the run's user (UID and GID). Their
	// paths are relative to it, without "." or ".." components (the
	// sandbox refuses others, and never follows a symlink on the way);
	// their directories are made.
	Context []ContextFile
}

// ContextFile is one of Files.Context.
type ContextFile struct {
	Path string
	Data []byte
}

// Limits bounds what a run may use. A zero field means "use the default".
type Limits struct {
	MemoryBytes int64 // memory limit, swap excluded (no swap is allowed)
	Pids        int64 // maximum number of tasks
	CPUs        float64
	StdoutBytes int64 // bytes of stdout kept; the rest is cut
	StderrBytes int64 // bytes of stderr kept; the rest is cut
	TmpfsBytes  int64 // size of each writable tmpfs (/tmp, /ATO, /ATO/context)
	RootBytes   int64 // size of the writable root's upper layer: what a run may write elsewhere
	// CPUTime bounds the CPU time of all the run's processes together;
	// past it the run is killed and Result.CPUTimeExceeded set. Zero: no
	// bound but the timeout (it has no default).
	CPUTime time.Duration
}

// DefaultLimits are the limits a run gets unless configured otherwise.
var DefaultLimits = Limits{
	MemoryBytes: 512 << 20,
	Pids:        256,
	CPUs:        1,
	StdoutBytes: 128 << 10,
	StderrBytes: 32 << 10,
	TmpfsBytes:  64 << 20,
	RootBytes:   256 << 20,
}

// WithDefaults fills the zero fields of l from d.
func (l Limits) WithDefaults(d Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	if l.CPUs == 0 {
		l.CPUs = d.CPUs
	}
	if l.StdoutBytes == 0 {
		l.StdoutBytes = d.StdoutBytes
	}
	if l.StderrBytes == 0 {
		l.StderrBytes = d.StderrBytes
	}
	if l.TmpfsBytes == 0 {
		l.TmpfsBytes = d.TmpfsBytes
	}
	if l.RootBytes == 0 {
		l.RootBytes = d.RootBytes
	}
	return l
}

// StatusType says how the runner process ended.
type StatusType int

const (
	StatusUnknown    StatusType = iota // the wait status could not be read
	StatusExited                       // returned or called exit; Value is the exit code
	StatusKilled                       // ended by a signal; Value is the signal number
	StatusCoreDumped                   // ended by a signal and dumped core; Value is the signal
)

// String returns the status name used on the wire.
func (s StatusType) String() string {
	switch s {
	case StatusExited:
		return "exited"
	case StatusKilled:
		return "killed"
	case StatusCoreDumped:
		return "core_dumped"
	default:
		return "unknown"
	}
}

// Status is how the runner process (the Command, not the sandbox's init)
// ended.
type Status struct {
	Type  StatusType
	Value int // exit code or signal number; -1 when unknown
}

func (s Status) String() string { return fmt.Sprintf("%s/%d", s.Type, s.Value) }

// Result is what a run did.
type Result struct {
	Status   Status
	TimedOut bool // killed because Spec.Timeout passed (then Status is killed/9)
	// CPUTimeExceeded: killed because the run's CPU time passed
	// Limits.CPUTime (then Status is killed/9).
	CPUTimeExceeded bool
	Killed          bool // killed because the caller's context ended (then Status is killed/9)

	StdoutTruncated bool // stdout went past its limit and was cut
	StderrTruncated bool // stderr went past its limit and was cut

	Stats Stats
}

// Stats describe one run: all of its processes, and nothing of any other run.
type Stats struct {
	Real   time.Duration // wall clock from the runner's start to its end
	User   time.Duration // CPU time in user mode
	Kernel time.Duration // CPU time in kernel mode

	MaxMemKiB       int64 // peak resident memory of the run, KiB
	Waits           int64 // voluntary context switches
	Preemptions     int64 // involuntary context switches
	MajorPageFaults int64
	MinorPageFaults int64
	InputOps        int64 // block input operations
	OutputOps       int64 // block output operations

	// From the run's cgroup.
	OOMKilled        bool  // the memory limit killed a process of the run
	MemoryPeakBytes  int64 // the cgroup's peak memory charge (includes page cache and tmpfs)
	CPUThrottled     int64 // CFS periods in which the run was throttled
	CPUThrottledTime time.Duration
}
