package mkdirs

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestAllCreatesParentsWithMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "var", "lib", "atod", "images")
	created, err := All(dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(base, "var"), filepath.Join(base, "var", "lib"),
		filepath.Join(base, "var", "lib", "atod"), dir,
	}
	if !slices.Equal(created, want) {
		t.Errorf("created %q, want %q", created, want)
	}
	for _, p := range want {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %o under umask 077, want 755", p, st.Mode().Perm())
		}
	}
	// A second call creates nothing and leaves modes alone.
	if err := os.Chmod(filepath.Join(base, "var"), 0o750); err != nil {
		t.Fatal(err)
	}
	if created, err := All(dir, 0o755); err != nil || len(created) != 0 {
		t.Errorf("second call: created %q, err %v", created, err)
	}
	if st, _ := os.Stat(filepath.Join(base, "var")); st.Mode().Perm() != 0o750 {
		t.Errorf("existing directory's mode changed to %o", st.Mode().Perm())
	}
}

func TestAllRefusesAFileOnThePath(t *testing.T) {
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := All(filepath.Join(base, "f", "x"), 0o755); err == nil {
		t.Error("created a directory below a file")
	}
}
