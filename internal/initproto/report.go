// Package initproto is what the daemon and the sandbox's init (PID 1 of a
// run) say to each other over two inherited pipes: the Job the daemon hands
// init when the run may start (a sandbox is prepared ahead and waits for
// it), and the Report init hands back when the runner has ended, with the
// runner's own wait status and the resource usage of every process of the
// run. The daemon's side is here; init is C (cmd/atod-init/atod-init.c),
// and the tests of cmd/atod-init/inittest hold the two ends together by
// running it.
package initproto

import (
	"encoding/json"
	"fmt"
	"io"
)

// FD is the descriptor on which init finds the write end of the report pipe
// (the sandbox's setup passes it on: setup.go).
const FD = 3

// JobFD is the descriptor on which init finds the read end of the job pipe.
const JobFD = 4

// MaxSize bounds what the daemon reads: a report is a few hundred bytes.
const MaxSize = 4096

// Report is what init writes once, just before it exits.
type Report struct {
	// WaitStatus is the runner's raw wait(2) status.
	WaitStatus uint32 `json:"wait_status"`
	// RealNs is the wall-clock time from starting the runner to reaping it.
	RealNs int64 `json:"real_ns"`
	// Usage is getrusage(RUSAGE_CHILDREN) after every process of the run
	// has been reaped, so it covers all of them and nothing else.
	Usage Usage `json:"usage"`
	// Error is set when init could not start the runner at all.
	Error string `json:"error,omitempty"`
}

// Usage is the part of struct rusage the daemon reports.
type Usage struct {
	UserNs   int64 `json:"user_ns"`
	SystemNs int64 `json:"system_ns"`
	MaxRSS   int64 `json:"max_rss_kib"`
	Minflt   int64 `json:"minflt"`
	Majflt   int64 `json:"majflt"`
	Inblock  int64 `json:"inblock"`
	Oublock  int64 `json:"oublock"`
	Nvcsw    int64 `json:"nvcsw"`
	Nivcsw   int64 `json:"nivcsw"`
}

// Write encodes r to w.
func Write(w io.Writer, r Report) error {
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return fmt.Errorf("writing init report: %w", err)
	}
	return nil
}

// Read decodes one report from r, reading at most MaxSize bytes. It
// returns io.EOF when init wrote nothing (it was killed before it could).
func Read(r io.Reader) (Report, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize))
	if err != nil {
		return Report{}, fmt.Errorf("reading init report: %w", err)
	}
	if len(b) == 0 {
		return Report{}, io.EOF
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return Report{}, fmt.Errorf("decoding init report: %w", err)
	}
	return rep, nil
}
