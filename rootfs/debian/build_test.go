package debian

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClaimDebCache(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "var", "cache", "atod", "debs")
	if err := claimDebCache(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fresh, debCacheMark)); err != nil {
		t.Errorf("a cache atod made is not marked as atod's: %v", err)
	}
	// A directory that holds something else (apt's archive, say) is
	// used, but not marked: the builder never prunes it.
	shared := filepath.Join(base, "archives")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "other_1.0_amd64.deb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := claimDebCache(shared); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(shared, debCacheMark)); !os.IsNotExist(err) {
		t.Errorf("a directory holding other files was marked as atod's cache (%v)", err)
	}
}
