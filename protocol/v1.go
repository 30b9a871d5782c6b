package protocol

import "github.com/tinylib/msgp/msgp"

//go:generate msgp

// MaxChunkSize is the largest piece of output one v1 Stdout or Stderr
// message carries.
const MaxChunkSize = 16 << 10

// Done is the body of the v1 message that ends a run: {"Done": {...}}. Its
// keys are exactly those of the v1 contract.
type Done struct {
	StatusType  string `msg:"status_type"`
	StatusValue int    `msg:"status_value"`
	TimedOut    bool   `msg:"timed_out"`

	StdoutTruncated bool `msg:"stdout_truncated"` // stdout passed its limit and was cut
	StderrTruncated bool `msg:"stderr_truncated"`

	Real            int64 `msg:"real"`
	Kernel          int64 `msg:"kernel"`
	User            int64 `msg:"user"`
	MaxMem          int64 `msg:"max_mem"`
	Waits           int64 `msg:"waits"`
	Preemptions     int64 `msg:"preemptions"`
	MajorPageFaults int64 `msg:"major_page_faults"`
	MinorPageFaults int64 `msg:"minor_page_faults"`
	InputOps        int64 `msg:"input_ops"`
	OutputOps       int64 `msg:"output_ops"`

	// The extension keys of a run whose request set limits, and only of
	// such a run (nil: the key is not sent): OOMKilled says the memory
	// limit killed a process of the run, CPUTimeExceeded that the run was
	// killed for its CPU time (not its timeout: TimedOut is false).
	OOMKilled       *bool `msg:"oom_killed,omitempty"`
	CPUTimeExceeded *bool `msg:"cpu_time_exceeded,omitempty"`
}

// DoneMessage is the v1 message {"Done": Done}.
type DoneMessage struct {
	Done Done `msg:"Done"`
}

// Stream names a v1 output message: the key of its one-entry map.
type Stream string

// The output streams of a run.
const (
	Stdout Stream = "Stdout"
	Stderr Stream = "Stderr"
)

// AppendOutput appends the v1 message {stream: chunk}, with chunk as bin.
// Callers keep chunks at most MaxChunkSize long.
func AppendOutput(b []byte, stream Stream, chunk []byte) []byte {
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, string(stream))
	return msgp.AppendBytes(b, chunk)
}

// killMessage is the msgpack string "Kill", which a v1 client sends to kill
// its running program.
const killMessage = "Kill"

// closeStdinMessage is the msgpack string "CloseStdin", which the client
// of an interactive run sends to end its program's stdin.
const closeStdinMessage = "CloseStdin"

// IsCloseStdin reports whether a client's message is "CloseStdin" (as a str
// or a bin, as IsKill takes "Kill"), with nothing after it.
func IsCloseStdin(msg []byte) bool { return isCommand(msg, closeStdinMessage) }

// StdinOf returns the bytes of a client's {"Stdin": bin} message (a str is
// taken too), and whether msg is one: a one-key map, nothing after it.
func StdinOf(msg []byte) ([]byte, bool) {
	n, rest, err := msgp.ReadMapHeaderBytes(msg)
	if err != nil || n != 1 {
		return nil, false
	}
	key, rest, err := msgp.ReadStringZC(rest)
	if err != nil || string(key) != "Stdin" {
		return nil, false
	}
	var data []byte
	switch msgp.NextType(rest) {
	case msgp.BinType:
		data, rest, err = msgp.ReadBytesZC(rest)
	case msgp.StrType:
		data, rest, err = msgp.ReadStringZC(rest)
	default:
		return nil, false
	}
	if err != nil || len(rest) != 0 {
		return nil, false
	}
	return data, true
}

// IsStdinStart reports whether msg starts as a {"Stdin": ...} message does:
// a one-key map whose key is "Stdin". It takes a message cut short (one too
// large to keep whole), which StdinOf does not.
func IsStdinStart(msg []byte) bool {
	n, rest, err := msgp.ReadMapHeaderBytes(msg)
	if err != nil || n != 1 {
		return false
	}
	key, _, err := msgp.ReadStringZC(rest)
	return err == nil && string(key) == "Stdin"
}

// IsKill reports whether a client's message is the v1 Kill command: exactly
// the msgpack string "Kill" (a bin holding it is accepted too, as the
// contract's typing is lax), with nothing after it.
func IsKill(msg []byte) bool { return isCommand(msg, killMessage) }

// isCommand reports whether msg is the msgpack string (or bin) command.
func isCommand(msg []byte, command string) bool {
	var s []byte
	var rest []byte
	var err error
	switch msgp.NextType(msg) {
	case msgp.StrType:
		s, rest, err = msgp.ReadStringZC(msg)
	case msgp.BinType:
		s, rest, err = msgp.ReadBytesZC(msg)
	default:
		return false
	}
	return err == nil && len(rest) == 0 && string(s) == command
}
