//go:build seccomp

package sandbox

// seccompBuilt is true when libcontainer's seccomp support (cgo,
// libseccomp) is compiled in.
const seccompBuilt = true
