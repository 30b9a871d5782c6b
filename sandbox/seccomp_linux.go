package sandbox

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

// seccompFile is the run's system-call policy (package seccompprofile: an
// allow-list, ENOSYS for every call it does not name) for the architecture
// atod was built for, compiled once to a BPF program (seccompProgram) and
// kept in a sealed memory file that every sandbox's setup reads and loads
// (initproto.SeccompFD): nothing can change it after New.
func seccompFile() (*os.File, error) {
	p, err := seccompprofile.For(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	prog, err := seccompProgram(p)
	if err != nil {
		return nil, fmt.Errorf("compiling the seccomp filter: %w", err)
	}
	return sealedFile("atod-seccomp", prog)
}

// sealedFile is a memory file holding b, sealed against every change.
func sealedFile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("creating memory file %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing memory file %s: %w", name, err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing memory file %s: %w", name, err)
	}
	return f, nil
}
