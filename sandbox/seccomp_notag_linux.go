//go:build !seccomp

package sandbox

const seccompBuilt = false
