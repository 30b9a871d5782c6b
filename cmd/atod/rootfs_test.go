package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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

func TestAgeOf(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Minute:                  "0m",
		59 * time.Minute:              "59m",
		time.Hour:                     "1h",
		47*time.Hour + 59*time.Minute: "47h",
		48 * time.Hour:                "2d",
		40 * 24 * time.Hour:           "40d",
	} {
		if got := ageOf(d); got != want {
			t.Errorf("ageOf(%v) = %s, want %s", d, got, want)
		}
	}
}
