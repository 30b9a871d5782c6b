//go:build !seccomp

package sandbox

import (
	"errors"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

// seccompProgram needs libseccomp (cgo), which this build left out.
func seccompProgram(seccompprofile.Profile) ([]byte, error) {
	return nil, errors.New("this binary was built without seccomp support: build with `-tags seccomp` (make build does)")
}
