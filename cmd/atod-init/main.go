// Command atod-init is the static helper the sandbox bind-mounts read-only at
// /ATO/yargs in every run. It has two jobs, chosen by its process id:
//
//   - As PID 1 of the run's pid namespace it is the run's init: it waits for
//     the daemon's job (the runner's command and environment), starts the
//     runner, reaps every orphan, and when the runner has ended kills what is
//     left, reaps it, and reports the runner's own wait status and the
//     resource usage of the whole run to the daemon over an inherited pipe.
//   - Otherwise it is /ATO/yargs of the runner contract:
//     `yargs PLACEHOLDER FILE prog args...` runs prog args... with the first
//     argument equal to PLACEHOLDER replaced by FILE's NUL-terminated entries.
//
// It must be built with CGO_ENABLED=0: it runs inside arbitrary root
// filesystems that may have no C library at all.
package main

import (
	"fmt"
	"os"
)

func main() {
	if os.Getpid() == 1 {
		os.Exit(runInit())
	}
	os.Exit(runYargs(os.Args[1:]))
}

func fail(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "yargs: "+format+"\n", args...)
	return code
}
