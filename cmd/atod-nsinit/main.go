// Command atod-nsinit is libcontainer's container init on its own: what runc
// runs as `runc init`. Inside a sandbox's new namespaces it sets up the
// mounts, pivot_root, the user and seccomp, and executes the run's init
// (atod-init).
//
// libcontainer starts a container by re-executing the binary that asked for
// it, the daemon. Once nsexec (libcontainer's C constructor) has joined the
// namespaces, a constructor of the daemon's (sandbox/nsinit_linux.go) hands
// the process over to this binary, which the daemon passes on as a sealed
// copy (initproto.NsinitFD). A 6 MiB program's start replaces the 24 MiB
// daemon's (its runtime and some 150 package initialisers): about 16 ms of
// CPU less per sandbox on the two-core VM issue 13 measured on.
//
// It must not import libcontainer/nsenter: nsexec has run already, and would
// run again.
package main

// Before the Go runtime starts: not dumpable again (nsexec made the process
// so, and executing this binary resets it where the process may read the
// copy: rootless, the copy is its own user's), so that no process of the
// daemon's user opens its /proc files while it sets up the mounts; and a
// name that says what it is in ps (after the exec it would be the copy's
// descriptor).

/*
#include <sys/prctl.h>

static void __attribute__((constructor)) atod_nsinit_start(void)
{
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "atod-nsinit", 0, 0, 0);
}
*/
import "C"

import (
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/initproto"
)

func main() {
	// The copy of this binary is no business of the run's: closed when
	// libcontainer executes atod-init (which closes it too).
	unix.CloseOnExec(initproto.NsinitFD)
	libcontainer.Init()
}
