package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
)

// TestRootlessAsRoot: rootless mode maps runs to the daemon's own uid, which
// for root would be the host's root.
func TestRootlessAsRoot(t *testing.T) {
	atodtest.NeedRoot(t) // it creates cgroups
	err := checkRootless("/bin/bash-static")
	if err == nil || errors.Is(err, ErrNoRootless) || !strings.Contains(err.Error(), "host's root") {
		t.Errorf("checkRootless as root = %v, want a refusal", err)
	}
}
