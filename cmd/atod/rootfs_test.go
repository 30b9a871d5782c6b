package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// `atod rootfs build` takes recipes or --all, not both and not neither;
// both are refused before the store is touched.
func TestRootfsBuildOperands(t *testing.T) {
	store := t.TempDir() + "/never-made"
	err := rootfsBuild(context.Background(), []string{"--images", store, "--all", "debian-12"})
	if err == nil || !strings.Contains(err.Error(), "--all builds every recipe: name none") {
		t.Errorf("--all with a recipe: %v", err)
	}
	var code exitCode
	if err := rootfsBuild(context.Background(), []string{"--images", store}); !errors.As(err, &code) || code != 2 {
		t.Errorf("no recipe: %v, want usage and exit code 2", err)
	}
}
