package initproto

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// The descriptors of a sandbox's start (atod-init started with SetupArgs)
// and setup (PID 1 of the sandbox it clones), after FD and JobFD, which
// the setup passes on to init.
const (
	// SetupFD is the read end of the pipe that brings the setup's Plan.
	SetupFD = 5
	// StatusFD is the write end of the pipe on which the setup says why it
	// failed, or init, which the setup passes it on to, says Ready and
	// closes it. Anything else (end of file alone: the setup or init died)
	// is a failure.
	StatusFD = 6
	// SeccompFD holds the run's seccomp filter: a BPF program, struct
	// sock_filter after struct sock_filter, read from offset 0 (every
	// sandbox shares the one file).
	SeccompFD = 7
	// ExecFD is atod-init itself, which the daemon starts through
	// /proc/self/fd/ExecFD, so that no directory on its host path has to
	// be searchable by the sandbox's ids.
	ExecFD = 8
)

// Ready is all init writes on StatusFD, once it runs.
const Ready = "ready"

// SetupArgs is atod-init's command line that starts a sandbox: it clones
// the sandbox's namespaces, writes their uid and gid maps (as
// /proc/PID/uid_map takes them) and, unless setgroups, denies setgroups(2)
// there first; the sandbox's first line on StatusFD is its process id, in
// decimal, and the rest as said there.
func SetupArgs(uidMap, gidMap string, setgroups bool) []string {
	allow := "deny"
	if setgroups {
		allow = "allow"
	}
	return []string{"atod-init", "setup", uidMap, gidMap, allow}
}

// ReadPID reads what a sandbox's start says first on StatusFD: the
// sandbox's process id, on a line of its own. When that is not what it
// said, err says so and said is what came instead (a failure's text, or
// nothing).
func ReadPID(status *bufio.Reader) (pid int, said string, err error) {
	said, err = status.ReadString('\n')
	if err != nil {
		return 0, said, fmt.Errorf("reading the sandbox's process id: %w", err)
	}
	if pid, err = strconv.Atoi(strings.TrimSuffix(said, "\n")); err != nil || pid <= 0 {
		return 0, said, fmt.Errorf("reading the sandbox's process id: %q is none", said)
	}
	return pid, said, nil
}

// MaxPlanSize bounds a Plan, as the setup reads it.
const MaxPlanSize = 1 << 16

// Op is one step of a sandbox's setup: its name and arguments.
type Op struct {
	Name string
	Args []string
}

// opArity is each step's number of arguments; the comment says what the
// setup does (cmd/atod-init/setup.c). Paths are the sandbox's (under the
// new root) unless they say host; before pivot the setup resolves them in
// the new root, never following a link out of it.
var opArity = map[string]int{
	"root":       1, // host path: the new root; bound onto itself
	"mount":      5, // source fstype flags data target: mounts, making target (a directory) if missing
	"bind":       3, // host-source target flags: binds, making target like the source; flags > 0 remount it with them
	"symlink":    2, // target path
	"pivot":      0, // the new root becomes /, the old one is detached
	"sysctl":     2, // name value: writes /proc/sys/<name, dots as slashes>
	"readonly":   1, // path: read-only from now on (nothing there: nothing done)
	"mask":       1, // path: hidden under /dev/null or an empty read-only tmpfs (nothing there: nothing done)
	"remount-ro": 1, // path: the mount there remounted read-only
	"hostname":   1, // name
	"loopback":   0, // the network namespace's lo up
	"chdir":      1, // path
	"user":       3, // uid gid setgroups: every capability dropped, then these ids; setgroups 1 empties the groups first
	"exec":       1, // path: no_new_privs, the seccomp filter, then exec (with init's descriptors only)
}

// Plan is what a sandbox's setup does, in order. The daemon decides it
// (package sandbox); the setup only carries it out, and refuses a step it
// does not know or whose argument count is wrong.
type Plan []Op

// Encode is p on the wire: NUL-terminated entries, each step's name
// followed by its arguments. It refuses a step setup would refuse, a NUL
// in an entry, and more than MaxPlanSize bytes.
func (p Plan) Encode() ([]byte, error) {
	var b []byte
	for _, op := range p {
		n, ok := opArity[op.Name]
		if !ok {
			return nil, fmt.Errorf("encoding setup plan: unknown step %q", op.Name)
		}
		if len(op.Args) != n {
			return nil, fmt.Errorf("encoding setup plan: step %s takes %d arguments, not %d", op.Name, n, len(op.Args))
		}
		for _, e := range append([]string{op.Name}, op.Args...) {
			if strings.IndexByte(e, 0) >= 0 {
				return nil, fmt.Errorf("encoding setup plan: a NUL in %q of step %s", e, op.Name)
			}
			b = append(append(b, e...), 0)
		}
	}
	if len(b) > MaxPlanSize {
		return nil, fmt.Errorf("encoding setup plan: %d bytes, more than %d", len(b), MaxPlanSize)
	}
	return b, nil
}
