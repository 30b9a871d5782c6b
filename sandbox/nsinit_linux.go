package sandbox

// The hand-over to atod-nsinit (cmd/atod-nsinit): libcontainer starts each
// container by re-executing the daemon's binary ("init"), whose nsexec, a C
// constructor of libcontainer/nsenter, joins the new namespaces before the Go
// runtime starts; the runtime and every package of the daemon then start
// only for libcontainer's Go init to run. The constructor below, in the
// process nsexec leaves to Go (its third stage, named runc:[2:INIT]),
// executes the small atod-nsinit instead, from the sealed copy the daemon
// passed on as initproto.NsinitFD, with the same arguments and environment:
// the descriptors and variables libcontainer's init needs.
//
// Constructors run in link order, nsenter's first (this package imports
// it). Were it otherwise, this one would find no third stage and do
// nothing, as it does when there is no copy on its descriptor (a daemon
// without atod-nsinit): libcontainer's init then runs in this binary, as it
// would without this file (the sandbox's integration tests fail instead:
// their init refuses to). Once the copy is there, a failure to execute it
// ends the start with a message: nsexec has run, and cannot run twice.

/*
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

enum { atod_nsinit_fd = 5 }; // initproto.NsinitFD

static void __attribute__((constructor)) atod_nsinit(int argc, char **argv, char **envp)
{
	(void)argc;
	if (!getenv("_LIBCONTAINER_INITPIPE"))
		return; // not a container's init
	char name[17] = {0};
	prctl(PR_GET_NAME, name, 0, 0, 0);
	if (strcmp(name, "runc:[2:INIT]") != 0)
		return; // nsexec has not run: see above
	// A sealed memfd: what the sandbox passes, and nothing else is.
	if (fcntl(atod_nsinit_fd, F_GET_SEALS) < 0)
		return;
	fexecve(atod_nsinit_fd, argv, envp);
	perror("atod: executing atod-nsinit");
	_exit(1);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer/exeseal"
)

// ErrNoNsinit is returned by New when the configured atod-nsinit cannot be
// used.
var ErrNoNsinit = errors.New("no usable atod-nsinit")

// sealNsinit returns a sealed in-memory copy of the atod-nsinit at path, the
// one every sandbox start executes: a run can never write to it, whatever
// its uid on the host (CVE-2019-5736, which libcontainer's own copies of the
// daemon's binary guard against too).
func sealNsinit(path, tmpDir string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNsinit, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNsinit, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a file", ErrNoNsinit, path)
	}
	sealed, err := exeseal.CloneBinary(f, st.Size(), "atod-nsinit", tmpDir)
	if err != nil {
		return nil, fmt.Errorf("%w: copying %s: %v", ErrNoNsinit, path, err)
	}
	if !exeseal.IsCloned(sealed) {
		sealed.Close()
		return nil, fmt.Errorf("%w: the kernel cannot seal a copy of %s (memfd seals)", ErrNoNsinit, path)
	}
	return sealed, nil
}
