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

func TestReadVersions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "versions")
	if err := os.WriteFile(file, []byte("python\t3.11.2\nc_gcc\tgcc (Debian 12.2.0-14) 12.2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := readVersions(file)
	if err != nil || len(v) != 2 || v["python"] != "3.11.2" || v["c_gcc"] != "gcc (Debian 12.2.0-14) 12.2.0" {
		t.Errorf("readVersions = %v, %v", v, err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := readVersions(file); err != nil || v != nil {
		t.Errorf("readVersions of a recipe without versions = %v, %v; want nil", v, err)
	}
	for _, bad := range []string{"python 3.11\n", "python\t\n", "\t3\n"} {
		if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if v, err := readVersions(file); err == nil {
			t.Errorf("readVersions(%q) = %v, want an error", bad, v)
		}
	}
	if _, err := readVersions(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("readVersions of a missing file succeeded: the builder always writes one")
	}
}
