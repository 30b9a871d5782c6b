package initproto

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxJobSize bounds a job: what init reads, and what the daemon may write.
const MaxJobSize = 1 << 20

// Job is what the daemon hands init once the run may start. Until it comes
// the sandbox is ready but runs nothing; when the pipe closes without one,
// the sandbox was discarded unused and init exits.
type Job struct {
	// Command is the runner's command line (its first entry is looked up
	// in PATH of Env).
	Command []string
	// Env is the runner's whole environment: NAME=value entries.
	Env []string
}

// Encode is j on the wire: NUL-terminated entries, the first the number of
// Command's, then Command's, then Env's. init is C (cmd/atod-init), and this
// is what C splits without a parser. It refuses what that cannot carry or
// init would refuse: no command, a NUL in an entry, an environment entry
// that is not NAME=value, more than MaxJobSize bytes.
func (j Job) Encode() ([]byte, error) {
	if len(j.Command) == 0 {
		return nil, fmt.Errorf("encoding job: no command")
	}
	b := append(strconv.AppendInt(nil, int64(len(j.Command)), 10), 0)
	for _, e := range j.Command {
		if strings.IndexByte(e, 0) >= 0 {
			return nil, fmt.Errorf("encoding job: a NUL in command entry %q", e)
		}
		b = append(append(b, e...), 0)
	}
	// A name given twice keeps its last value (in the first one's place),
	// as setting them one after the other would: the runner's getenv
	// would otherwise find the first.
	env := make([]string, 0, len(j.Env))
	at := make(map[string]int, len(j.Env))
	for _, e := range j.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
			return nil, fmt.Errorf("encoding job: invalid environment entry %q", e)
		}
		if i, dup := at[k]; dup {
			env[i] = e
			continue
		}
		at[k] = len(env)
		env = append(env, e)
	}
	for _, e := range env {
		b = append(append(b, e...), 0)
	}
	if len(b) > MaxJobSize {
		return nil, fmt.Errorf("encoding job: %d bytes of command and environment; init takes %d", len(b), MaxJobSize)
	}
	return b, nil
}

// A job handed over ahead (EncodeHeld), for a runner that starts before its
// run's files are there, keeps the job pipe open. init starts the runner at
// once, with the read end of a pipe of its own, the gate, as descriptor
// RunnerGateFD (the runner's Bash waits until the gate ends: its
// --atod-wait-fd), and lets it go on by closing the gate's write end when
// the daemon writes StartRunner on the job pipe; the run's real time starts
// then. A job pipe that ends before StartRunner is a sandbox discarded
// unused: init kills the runner and exits without a report.
const (
	StartRunner  byte = 's'
	RunnerGateFD int  = 3
)

// EncodeHeld is j as the daemon hands it over ahead: its encoding and an
// empty entry, which no job has among its environment's entries, so that
// init knows the job has ended without the pipe's end.
func (j Job) EncodeHeld() ([]byte, error) {
	b, err := j.Encode()
	if err != nil {
		return nil, err
	}
	if len(b)+1 > MaxJobSize {
		return nil, fmt.Errorf("encoding job: %d bytes of command and environment; init takes %d", len(b)+1, MaxJobSize)
	}
	return append(b, 0), nil
}

// WriteJob encodes j to w in one write.
func WriteJob(w io.Writer, j Job) error {
	b, err := j.Encode()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("handing over job: %w", err)
	}
	return nil
}
