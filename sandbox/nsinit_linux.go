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
// Constructors run in an order the linker chooses, and builds of this
// package have seen both. When nsenter's comes first, this one finds the
// third stage and executes atod-nsinit; when this one comes first, it runs
// nsexec itself, which returns only in the third stage (the first two exit
// inside it), and executes atod-nsinit there, so that nsenter's never runs.
// Without the copy on its descriptor (a daemon without atod-nsinit) it does
// nothing, before nsexec as after: libcontainer's init then runs in this
// binary, as it would without this file. Once nsexec has run, a failure to
// execute the copy ends the start with a message: nsexec cannot run twice.
// (The sandbox's integration tests refuse to run libcontainer's init in
// their own binary: they fail if the hand-over does not happen.)

/*
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

void nsexec(void); // libcontainer/nsenter's

enum { atod_nsinit_fd = 5 }; // initproto.NsinitFD

static void __attribute__((constructor)) atod_nsinit(int argc, char **argv, char **envp)
{
	(void)argc;
	if (!getenv("_LIBCONTAINER_INITPIPE"))
		return; // not a container's init
	// Sealed against every change, as the sandbox's copy is
	// (exeseal.IsCloned): not a file that merely supports seals.
	const int sealed = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int seals = fcntl(atod_nsinit_fd, F_GET_SEALS);
	if (seals < 0 || (seals & sealed) != sealed)
		return;
	char name[17] = {0};
	prctl(PR_GET_NAME, name, 0, 0, 0);
	if (strcmp(name, "runc:[2:INIT]") != 0)
		nsexec(); // this constructor came first: see above
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
