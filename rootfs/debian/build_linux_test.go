package debian

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
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

// TestRecipeErrors: a recipe the builder cannot follow fails before it
// fetches or builds anything, with the line and what it wants.
func TestRecipeErrors(t *testing.T) {
	atodtest.NeedRoot(t) // build-tree.sh refuses to start otherwise
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("no mmdebstrap (scripts/setup-host installs it)")
	}
	const integrity = "sha512-3md4TKLCuzsLDmfOoC5KN7NAZaxSVkMgm64vg6foD00JBADCpYS2/5QqXfzgnP5ZQz3iLP9vBQJtEgc116OAoQ=="
	for _, tt := range []struct{ recipe, want string }{
		{"suite bookworm\nbogus x\n", "recipe:2: unknown directive 'bogus'"},
		{"packages bash\n", "missing or invalid 'suite'"},
		{"suite bookworm\npackages --force-yes\n", "invalid package or suite name '--force-yes'"},
		{"suite bookworm\nversion Python python3 -V\n", "recipe:2: want 'version LANGUAGE_ID COMMAND'"},
		{"suite bookworm\nversion python\n", "recipe:2: want 'version LANGUAGE_ID COMMAND'"},
		{"suite bookworm\nnpm deno@^2 " + integrity + " package/deno /usr/local/bin/deno\n", "recipe:2: want 'npm PACKAGE@X.Y.Z"},
		{"suite bookworm\nnpm deno@2.9.6 sha1-abc package/deno /usr/local/bin/deno\n", "recipe:2: want 'npm PACKAGE@X.Y.Z"},
		{"suite bookworm\nnpm deno@2.9.6 " + integrity + " package/../../etc/passwd /usr/local/bin/deno\n", "no '..'"},
		{"suite bookworm\nnpm deno@2.9.6 " + integrity + " package/deno /usr/../../etc/cron.d/x\n", "no '..'"},
		{"suite bookworm\nnpm deno@2.9.6 " + integrity + " package/deno usr/local/bin/deno\n", "recipe:2: want 'npm PACKAGE@X.Y.Z"},
	} {
		work := t.TempDir()
		script, recipe := filepath.Join(work, "build-tree.sh"), filepath.Join(work, "recipe")
		if err := os.WriteFile(script, buildTreeScript, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(recipe, []byte(tt.recipe), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("/bin/bash", script, recipe, filepath.Join(work, "rootfs"), "test").CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("recipe %q: %v, output %q; want an error saying %q", tt.recipe, err, out, tt.want)
		}
		if _, err := os.Stat(filepath.Join(work, "rootfs")); err == nil {
			t.Errorf("recipe %q: the builder made a tree", tt.recipe)
		}
	}
}

// A recipe that names a package its suite lacks fails in mmdebstrap, and
// the error's log says which (Build then discards the work directory, so
// nothing is installed). It asks the host's apt mirror for the suite's
// package lists.
func TestMissingPackageFailsClearly(t *testing.T) {
	atodtest.NeedRoot(t)
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("no mmdebstrap (scripts/setup-host installs it)")
	}
	work := t.TempDir()
	script, recipe := filepath.Join(work, "build-tree.sh"), filepath.Join(work, "recipe")
	if err := os.WriteFile(script, buildTreeScript, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recipe, []byte("suite bookworm\npackages atod-no-such-package\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/bash", script, recipe, filepath.Join(work, "rootfs"), "test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mmdebstrap failed") || !strings.Contains(string(out), "atod-no-such-package") {
		t.Errorf("a recipe with a package bookworm lacks: %v, output %q; want mmdebstrap failing on atod-no-such-package", err, out)
	}
}
