package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var testEnv = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"}

func TestLookup(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "debian-12", `{"name": "debian-12", "env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"], "recipe_hash": "ab12", "created": "2025-01-02T03:04:05Z", "future": 1}`)
	d := openDir(t, root)

	img, err := d.Lookup("debian-12")
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "debian-12" || img.Path != filepath.Join(root, "debian-12", "rootfs") || !slices.Equal(img.Env, testEnv) {
		t.Errorf("Lookup = %+v", img)
	}
	if _, err := os.Stat(filepath.Join(img.Path, "bin")); err != nil {
		t.Errorf("Path is not the tree: %v", err)
	}
}

func TestLookupNotFound(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root)

	_, err := d.Lookup("debian-12")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	// The operator must learn how to get the image.
	if !strings.Contains(err.Error(), "scripts/build-rootfs debian-12") {
		t.Errorf("err = %v, want advice to run scripts/build-rootfs debian-12", err)
	}
}

func TestLookupRootMissing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not", "yet")
	d := openDir(t, root)
	if _, err := d.Lookup("debian-12"); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if imgs, err := d.List(); err != nil || len(imgs) != 0 {
		t.Errorf("List = %v, %v; want nothing", imgs, err)
	}
	// Images built after OpenDir are found.
	addImage(t, root, "late", `{"name": "late"}`)
	if _, err := d.Lookup("late"); err != nil {
		t.Errorf("Lookup(late) after building it: %v", err)
	}
}

// TestLookupIncomplete covers interrupted and damaged builds: without a
// complete image.json and tree there is no image.
func TestLookupIncomplete(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "no-manifest", "")
	mkdir(t, filepath.Join(root, "no-tree"))
	writeFile(t, filepath.Join(root, "no-tree", manifestFile), `{"name": "no-tree"}`)
	mkdir(t, filepath.Join(root, "tree-is-file"))
	writeFile(t, filepath.Join(root, "tree-is-file", treeDir), "")
	writeFile(t, filepath.Join(root, "tree-is-file", manifestFile), `{"name": "tree-is-file"}`)
	d := openDir(t, root)

	for _, name := range []string{"no-manifest", "no-tree", "tree-is-file"} {
		_, err := d.Lookup(name)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) err = %v, want ErrNotFound", name, err)
		}
		t.Log(err)
	}
}

func TestLookupDamaged(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "syntax", `{"name": "syntax"`)
	addImage(t, root, "wrong-name", `{"name": "other"}`)
	addImage(t, root, "bad-env", `{"name": "bad-env", "env": ["PATH"]}`)
	addImage(t, root, "empty-key", `{"name": "empty-key", "env": ["=x"]}`)
	addImage(t, root, "huge", `{"name": "huge", "pad": "`+strings.Repeat("x", maxManifestBytes)+`"}`)
	d := openDir(t, root)

	for _, name := range []string{"syntax", "wrong-name", "bad-env", "empty-key", "huge"} {
		_, err := d.Lookup(name)
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) err = %v, want an error other than ErrNotFound", name, err)
		}
	}
	if _, err := d.List(); err == nil {
		t.Error("List of a store with damaged images succeeded")
	}
}

func TestLookupInvalidName(t *testing.T) {
	root := t.TempDir()
	// Even where the path exists, a name outside the pattern is never used.
	addImage(t, root, ".tmp-abc", `{"name": ".tmp-abc"}`)
	addImage(t, root, "Debian", `{"name": "Debian"}`)
	d := openDir(t, root)

	for _, name := range []string{"", ".", "..", "../x", "a/b", "/etc", ".tmp-abc", "Debian",
		"-x", "_x", "a b", "a\x00", "débian", strings.Repeat("a", 256)} {
		_, err := d.Lookup(name)
		if !errors.Is(err, ErrInvalidName) || !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) err = %v, want ErrInvalidName and ErrNotFound", name, err)
		}
	}
	for _, name := range []string{"a", "0", "debian-12", "python3.12_slim", strings.Repeat("a", 255)} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", name, err)
		}
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "b", `{"name": "b", "env": ["A=1"]}`)
	addImage(t, root, "a", `{"name": "a"}`)
	addImage(t, root, "unfinished", "")
	addImage(t, root, ".tmp-123", `{"name": ".tmp-123"}`)
	writeFile(t, filepath.Join(root, ".lock"), "")
	writeFile(t, filepath.Join(root, "c"), "a file, not an image")
	d := openDir(t, root)

	imgs, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("List names = %v, want [a b]", names)
	}
	if !slices.Equal(imgs[1].Env, []string{"A=1"}) {
		t.Errorf("List()[1].Env = %v", imgs[1].Env)
	}
}

func TestOpenDir(t *testing.T) {
	t.Run("relative", func(t *testing.T) {
		root := t.TempDir()
		t.Chdir(root)
		addImage(t, root, "x", `{"name": "x"}`)
		d := openDir(t, ".")
		if d.Root() != root {
			t.Errorf("Root() = %q, want %q", d.Root(), root)
		}
		img, err := d.Lookup("x")
		if err != nil || !filepath.IsAbs(img.Path) {
			t.Errorf("Lookup = %+v, %v; want an absolute path", img, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := OpenDir(""); err == nil {
			t.Error("OpenDir(\"\") succeeded")
		}
	})
	t.Run("file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		writeFile(t, f, "")
		if _, err := OpenDir(f); err == nil {
			t.Error("OpenDir(file) succeeded")
		}
	})
}

// addImage lays out image name under root with a small tree; manifest is
// the content of image.json, or "" for none (an unfinished build).
func addImage(tb testing.TB, root, name, manifest string) {
	tb.Helper()
	dir := filepath.Join(root, name)
	mkdir(tb, filepath.Join(dir, treeDir, "bin"))
	if manifest != "" {
		writeFile(tb, filepath.Join(dir, manifestFile), manifest)
	}
}

func openDir(tb testing.TB, root string) *Dir {
	tb.Helper()
	d, err := OpenDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func mkdir(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		tb.Fatal(err)
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
