package protocol

//go:generate msgp

// Result is the v0 result message: how the program ended, its output and
// the statistics of the run. Its keys are exactly those of the v0 contract;
// Stdout and Stderr encode as msgpack bin, StatusType as str.
type Result struct {
	Stdout []byte `msg:"stdout"` // at most 128 KiB
	Stderr []byte `msg:"stderr"` // at most 32 KiB

	StatusType  string `msg:"status_type"`  // exited, killed, core_dumped or unknown
	StatusValue int    `msg:"status_value"` // exit code or signal number; -1 when unknown
	TimedOut    bool   `msg:"timed_out"`    // killed for overrunning its timeout

	Real            int64 `msg:"real"`        // wall clock, ns
	Kernel          int64 `msg:"kernel"`      // CPU time in kernel mode, ns
	User            int64 `msg:"user"`        // CPU time in user mode, ns
	MaxMem          int64 `msg:"max_mem"`     // peak memory, KiB
	Waits           int64 `msg:"waits"`       // voluntary context switches
	Preemptions     int64 `msg:"preemptions"` // involuntary context switches
	MajorPageFaults int64 `msg:"major_page_faults"`
	MinorPageFaults int64 `msg:"minor_page_faults"`
	InputOps        int64 `msg:"input_ops"`  // block input operations
	OutputOps       int64 `msg:"output_ops"` // block output operations
}
