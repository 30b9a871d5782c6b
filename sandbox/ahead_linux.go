package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// With Options.RunnersAhead, a sandbox starts its runner ahead: the static
// Bash that runs /ATO/runner starts with the sandbox, and its start (the
// exec, its variables and options: a millisecond or two on the development
// VM, issue 13) is off the run's round trip. It starts with bashWaitOption
// (atod-bash's own: scripts/atod-bash.diff) naming the read end of a pipe
// init keeps, the gate, and sleeps reading it, before anything of its
// startup files or script is read; init closes the gate when the daemon
// writes StartRunner on the job pipe, after the run's files (prepared.run).
// A read of a pipe sleeps until then, however long the sandbox waits:
// nothing of the wait is in the run's statistics, and nothing expires. The
// runner contract is unchanged: the same Bash reads the same /ATO/runner,
// with the same $0 and arguments.
//
// A Bash without the option (Debian's bash-static, an atod-bash built
// before it) starts at the handover: New probes for it (probeBashWait).

// probeTimeout bounds the probe: a Bash that waited on something else
// would otherwise hold up the daemon's start.
const probeTimeout = 10 * time.Second

// probeBashWait reports why the static Bash at path cannot start ahead, or
// nil when it can: given bashWaitOption and a pipe at its end, it runs a
// command, and has closed the pipe by then.
func probeBashWait(path string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("probing %s %s: %w", path, bashWaitOption, err)
	}
	defer r.Close()
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	// Duplicating descriptor 3 fails only where it is closed.
	cmd := exec.CommandContext(ctx, path, bashWaitOption, "3", "-c", `{ : <&3; } 2>/dev/null && echo open || echo closed`)
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{r} // 3
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second // a child left holding its output
	out, err := cmd.Output()
	if err == nil && string(out) == "closed\n" {
		return nil
	}
	why := "it did not close the descriptor"
	switch {
	case ctx.Err() != nil:
		why = fmt.Sprintf("it had not run its command after %s", probeTimeout)
	case err != nil:
		why, _, _ = strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		why = fmt.Sprintf("%v: %s", err, why)
	}
	return fmt.Errorf("%s has no working %s (%s): atod-bash has it (make bin/atod-bash)", path, bashWaitOption, why)
}
