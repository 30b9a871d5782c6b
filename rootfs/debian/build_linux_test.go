package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
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
		{"suite bookworm\nnpm deno@2.9.6 " + integrity + " package/deno /usr//bin/deno\n", "no '..', '.' or '//'"},
	} {
		work := t.TempDir()
		script, recipe := writeBuildScript(t, work), filepath.Join(work, "recipe")
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
	script, recipe := writeBuildScript(t, work), filepath.Join(work, "recipe")
	if err := os.WriteFile(recipe, []byte("suite bookworm\npackages atod-no-such-package\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/bash", script, recipe, filepath.Join(work, "rootfs"), "test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mmdebstrap failed") || !strings.Contains(string(out), "atod-no-such-package") {
		t.Errorf("a recipe with a package bookworm lacks: %v, output %q; want mmdebstrap failing on atod-no-such-package", err, out)
	}
}

// An npm line's file lands in the tree and nowhere else: a symbolic link
// that would take it, or a directory made for it, out of the tree is
// refused (an image's /var/run points at /run, which is the host's seen
// from the build). The script's install_npm runs alone on scratch trees.
func TestNpmFileStaysInTree(t *testing.T) {
	dir := t.TempDir()
	script := writeBuildScript(t, dir)
	npm := filepath.Join(dir, "npm")
	atodtest.MkdirAll(t, filepath.Join(npm, "0", "package"))
	atodtest.WriteFile(t, filepath.Join(npm, "0", "package", "deno"), "the binary")
	outside := filepath.Join(dir, "outside")
	atodtest.MkdirAll(t, outside)
	atodtest.WriteFile(t, filepath.Join(outside, "file"), "host's")
	for i, c := range []struct {
		dest  string
		links map[string]string // in the tree: path → target
		ok    bool
	}{
		{"/usr/local/bin/deno", nil, true},
		{"/deno", nil, true},
		{"/var/run", map[string]string{"var/run": outside}, false},
		{"/var/run/deno", map[string]string{"var/run": outside}, false},
		{"/opt/x/deno", map[string]string{"opt": filepath.Join(outside, "gone")}, false},
		{"/bin/deno", map[string]string{"bin": "usr/bin"}, false},
		{"/etc/deno", map[string]string{"etc/deno": filepath.Join(outside, "file")}, false},
	} {
		tree := filepath.Join(dir, fmt.Sprint("tree", i))
		atodtest.MkdirAll(t, filepath.Join(tree, "usr", "bin"))
		for link, target := range c.links {
			atodtest.MkdirAll(t, filepath.Dir(filepath.Join(tree, link)))
			if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
				t.Fatal(err)
			}
		}
		cmd := scriptFunction(script, "install_npm", `tree=$1 npm_dir=$2
install_npm "deno@1.0.0 sha512-x package/deno $3" 0`, tree, npm, c.dest)
		out, err := cmd.CombinedOutput()
		if c.ok {
			got, rerr := os.ReadFile(filepath.Join(tree, c.dest))
			if err != nil || rerr != nil || string(got) != "the binary" {
				t.Errorf("%s: %v %s; the file: %q %v", c.dest, err, out, got, rerr)
			}
			continue
		}
		if err == nil || !strings.Contains(string(out), "symbolic link") {
			t.Errorf("%s through %v: %v %q; want a refusal naming the link", c.dest, c.links, err, out)
		}
		entries, _ := os.ReadDir(outside)
		if b, _ := os.ReadFile(filepath.Join(outside, "file")); len(entries) != 1 || string(b) != "host's" {
			t.Errorf("%s through %v: outside the tree now holds %v (file %q)", c.dest, c.links, entries, b)
		}
	}
}

// TestNpmFetchChecks: an npm line's package is taken only when it is what
// the recipe pins. A fake npm on PATH packs a known tarball: the right
// integrity passes and extracts the file; a wrong one, a failing npm pack, a
// package without the file and one whose file is a symbolic link each stop
// the build with a line that says so.
func TestNpmFetchChecks(t *testing.T) {
	dir := t.TempDir()
	script := writeBuildScript(t, dir)
	bin := filepath.Join(dir, "bin")
	atodtest.MkdirAll(t, bin)
	atodtest.WriteFile(t, filepath.Join(bin, "npm"), `#!/bin/bash
[[ -z $FAKE_NPM_FAIL ]] || { echo "404 Not Found" >&2; exit 1; }
while (($#)); do [[ $1 == --pack-destination ]] && { cp -- "$FAKE_TGZ" "$2/deno-1.0.0.tgz"; exit; }; shift; done
exit 2`)
	if err := os.Chmod(filepath.Join(bin, "npm"), 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := func(name string, file bool) (path, integrity string) {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		hdr := &tar.Header{Name: "package/" + name, Mode: 0o755, Size: int64(len("the binary")), Typeflag: tar.TypeReg}
		if !file {
			hdr = &tar.Header{Name: "package/" + name, Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if file {
			tw.Write([]byte("the binary"))
		}
		if err := errors.Join(tw.Close(), gz.Close()); err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(dir, fmt.Sprintf("%s-%v.tgz", name, file))
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha512.Sum512(buf.Bytes())
		return path, "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	}
	good, goodSum := tarball("deno", true)
	other, otherSum := tarball("other", true)
	link, linkSum := tarball("deno", false)
	for i, c := range []struct {
		name, tgz, integrity, fail, want string
	}{
		{"pinned", good, goodSum, "", ""},
		{"another package", other, goodSum, "", "its integrity is " + otherSum + ", not the recipe's " + goodSum},
		{"npm pack fails", good, goodSum, "1", "npm pack failed"},
		{"no such file", other, otherSum, "", "npm package deno@1.0.0 has no package/deno"},
		{"a link, not a file", link, linkSum, "", "package/deno is not a regular file"},
	} {
		npmDir := filepath.Join(dir, fmt.Sprint("npm", i))
		cmd := scriptFunction(script, "fetch_npm", `npm_dir=$1 log=$2
fetch_npm "deno@1.0.0 $3 package/deno /usr/local/bin/deno" 0`, npmDir, filepath.Join(dir, "log"), c.integrity)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_TGZ="+c.tgz, "FAKE_NPM_FAIL="+c.fail)
		out, err := cmd.CombinedOutput()
		if c.want == "" {
			got, rerr := os.ReadFile(filepath.Join(npmDir, "0", "package", "deno"))
			if err != nil || rerr != nil || string(got) != "the binary" {
				t.Errorf("%s: %v %s; the file: %q %v", c.name, err, out, got, rerr)
			}
			continue
		}
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v %q; want a failure saying %q", c.name, err, out, c.want)
		}
	}
}

// writeBuildScript writes the builder's script into dir and returns its path.
func writeBuildScript(t *testing.T, dir string) string {
	t.Helper()
	script := filepath.Join(dir, "build-tree.sh")
	if err := os.WriteFile(script, buildTreeScript, 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// scriptFunction is a Bash command that defines the function fn of script
// alone (say and die as stubs: die prints its words and exits 1) and runs
// body with args as $1, $2, ...
func scriptFunction(script, fn, body string, args ...string) *exec.Cmd {
	return exec.Command("/bin/bash", append([]string{"-c", `say() { :; }; die() { echo "$*" >&2; exit 1; }
eval "$(sed -n '/^` + fn + `() {/,/^}/p' "$0")"
` + body, script}, args...)...)
}
