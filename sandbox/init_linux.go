package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/exeseal"
	"golang.org/x/sys/unix"

	// The device cgroup manager registers itself by import.
	_ "github.com/opencontainers/cgroups/devices"
	// nsenter's C constructor joins the namespaces in a re-executed init
	// before the Go runtime starts; it does nothing in other processes.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// init keeps the main goroutine on the main thread for the life of the
// process, so that no other goroutine ever runs there. libcontainer joins a
// container's mount namespace on a locked thread and relies on that thread
// dying when its goroutine ends; the main thread cannot die, so it would
// instead stay in the run's mount namespace, keeping it (and its mounts)
// alive, and /proc/self, which follows the main thread, would then show that
// namespace to the whole daemon.
func init() {
	runtime.LockOSThread()
}

// InitArg is the argument the daemon re-executes itself with to become a
// container's init (libcontainer's bootstrap).
const InitArg = "init"

// IsInit reports whether this process was started as a container's init.
func IsInit() bool { return len(os.Args) > 1 && os.Args[1] == InitArg }

// Init runs libcontainer's container bootstrap; it never returns. Call it
// first thing in main when IsInit reports true.
func Init() { libcontainer.Init() }

// SealExecutable re-executes an unprivileged process from a sealed
// in-memory copy of its binary, so that a rootless Sandbox starts its runs
// fast. It returns nil at once for root, when the process runs from such a
// copy already, and when the kernel cannot make one; otherwise it returns
// only on error. Call it before the process does anything worth keeping:
// the new program starts again from main, with the same arguments and
// environment, but with the absolute path of the binary as argv[0], which
// Executable reports.
//
// Why: libcontainer starts every run's init from a copy of the daemon's
// binary that the run cannot write to through /proc/self/exe
// (CVE-2019-5736). As root it makes a read-only overlayfs view, which costs
// nothing; an unprivileged process cannot mount one, so libcontainer copies
// the whole binary (some 20 MiB) into a sealed memfd for every run instead,
// which runc measures at about 60% of a container's start (in the emulated
// cgroup v2 lane, runs took four times as long). A process already
// running from a sealed memfd is used as it is
// (exeseal.IsSelfExeCloned), so one copy, made here, serves every run.
func SealExecutable() error {
	if os.Geteuid() == 0 || exeseal.IsSelfExeCloned() {
		return nil
	}
	path, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the executable: %w", err)
	}
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("opening the executable: %w", err)
	}
	defer self.Close()
	st, err := self.Stat()
	if err != nil {
		return fmt.Errorf("opening the executable: %w", err)
	}
	sealed, err := exeseal.CloneBinary(self, st.Size(), path, os.TempDir())
	if err != nil {
		return fmt.Errorf("copying the executable: %w", err)
	}
	defer sealed.Close()
	if !exeseal.IsCloned(sealed) {
		// Not a sealed memfd (an old kernel): the new program would copy
		// itself again and again. libcontainer copies per run instead.
		return nil
	}
	args := append([]string{path}, os.Args[1:]...)
	err = unix.Exec("/proc/self/fd/"+strconv.Itoa(int(sealed.Fd())), args, os.Environ())
	return fmt.Errorf("executing the sealed copy of %s: %w", path, err)
}

// Executable is the path of the binary the process was started from, also
// when SealExecutable has re-executed it from a copy.
func Executable() (string, error) {
	if filepath.IsAbs(os.Args[0]) && exeseal.IsSelfExeCloned() {
		return os.Args[0], nil
	}
	return os.Executable()
}
