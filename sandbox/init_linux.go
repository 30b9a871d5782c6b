package sandbox

import (
	"os"
	"runtime"

	"github.com/opencontainers/runc/libcontainer"

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
