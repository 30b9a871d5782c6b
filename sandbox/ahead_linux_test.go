package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeBashWait: a Bash starts ahead only where it has the wait option
// and closes the descriptor it waited on: atod-bash (where make built it),
// not a Bash without the option, nor one that leaves the descriptor open.
func TestProbeBashWait(t *testing.T) {
	if dir := os.Getenv("ATOD_BIN_DIR"); dir != "" {
		if own := filepath.Join(dir, "atod-bash"); fileExists(own) {
			if err := probeBashWait(own); err != nil {
				t.Errorf("atod-bash: %v", err)
			}
		}
	}
	if err := probeBashWait("/bin/bash"); err == nil || !strings.Contains(err.Error(), "invalid option") {
		t.Errorf("a Bash without the option: %v, want it refused for the option", err)
	}
	// What it runs is its -c command; an option it ignores leaves the
	// descriptor open.
	ignores := filepath.Join(t.TempDir(), "bash")
	if err := os.WriteFile(ignores, []byte("#!/bin/bash\nexec /bin/bash \"$3\" \"$4\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := probeBashWait(ignores); err == nil || !strings.Contains(err.Error(), "did not close") {
		t.Errorf("a Bash that leaves the descriptor open: %v, want it refused", err)
	}
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
