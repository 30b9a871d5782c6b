//go:build !seccomp

package sandbox

import (
	"errors"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

const seccompBuilt = false

func seccompProgram(seccompprofile.Profile) ([]byte, error) {
	return nil, errors.New("built without seccomp support: build with `-tags seccomp` (make build does)")
}
