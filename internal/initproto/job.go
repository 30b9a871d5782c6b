package initproto

import (
	"encoding/json"
	"fmt"
	"io"
)

// MaxJobSize bounds a job: what init reads, and what the daemon may write.
const MaxJobSize = 1 << 20

// Job is what the daemon hands init once the run may start. Until it comes
// the sandbox is ready but runs nothing; when the pipe closes without one,
// the sandbox was discarded unused and init exits.
type Job struct {
	// Command is the runner's command line (its first entry is looked up
	// in PATH of Env).
	Command []string `json:"command"`
	// Env is the runner's whole environment.
	Env []string `json:"env"`
}

// WriteJob encodes j to w in one write.
func WriteJob(w io.Writer, j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encoding job: %w", err)
	}
	if len(b) > MaxJobSize {
		return fmt.Errorf("encoding job: %d bytes of command and environment; init takes %d", len(b), MaxJobSize)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("handing over job: %w", err)
	}
	return nil
}

// ReadJob decodes the job from r, reading to its end (the daemon closes it
// once it has written the job) but at most MaxJobSize bytes. It returns
// io.EOF when the daemon wrote nothing.
func ReadJob(r io.Reader) (Job, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxJobSize+1))
	if err != nil {
		return Job{}, fmt.Errorf("reading job: %w", err)
	}
	if len(b) == 0 {
		return Job{}, io.EOF
	}
	if len(b) > MaxJobSize {
		return Job{}, fmt.Errorf("reading job: more than %d bytes", MaxJobSize)
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("decoding job: %w", err)
	}
	if len(j.Command) == 0 {
		return Job{}, fmt.Errorf("decoding job: no command")
	}
	return j, nil
}
