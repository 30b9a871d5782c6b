// Package sandbox runs one program in a fresh, contained Linux environment
// and reports how it ended: the mechanism under atod, with no knowledge of
// languages, runners or the wire protocol.
//
// A run gets its own mount, pid, network (loopback only), ipc, uts, cgroup
// and user namespaces (uid 0 inside is an unprivileged uid outside), a
// writable root filesystem of its own (an overlay of its image under a
// size-capped tmpfs; the image never changes), size-capped writable tmpfs
// mounts, no capabilities, no_new_privs, a seccomp allow-list (package
// seccompprofile), and a cgroup of its own with memory, pids and CPU limits. Every process of a run is killed through
// its cgroup when it times out or its caller gives up, and nothing of a run
// outlives it: no process, cgroup, mount, state or scratch file.
//
// As root, uid 0 of a run is an unprivileged host uid of its own slot;
// rootless (Options.Rootless: an unprivileged daemon on cgroup v2 with a
// delegated cgroup) it is the daemon's own uid, and the runs have no device
// cgroup.
//
// Each sandbox is set up by the static atod-init (cmd/atod-init: its setup
// role), started in the new namespaces, which carries out the plan the
// daemon makes (setupPlan) and becomes the run's init.
//
// The caller provides a validated job.Spec (package job) and the sandbox's
// static init binary (cmd/atod-init); a rootless caller should call
// EnterUserNS first thing (without a user namespace of its own, its runs'
// root is read-only).
// Everything Linux-specific lives in _linux.go files, so the data types build
// anywhere.
package sandbox
