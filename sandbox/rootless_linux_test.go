package sandbox

import (
	"errors"
	"strings"
	"testing"
)

// TestRootlessAsRoot: rootless mode maps runs to the daemon's own uid, which
// for root would be the host's root.
func TestRootlessAsRoot(t *testing.T) {
	needRoot(t)
	err := checkRootless("/bin/bash-static")
	if err == nil || errors.Is(err, ErrNoRootless) || !strings.Contains(err.Error(), "host's root") {
		t.Errorf("checkRootless as root = %v, want a refusal", err)
	}
}
