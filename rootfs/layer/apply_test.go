package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/rootfs/layer/layertest"
)

// applyLayers applies layers to a new tree under a fresh directory that
// also holds "outside", a directory no layer may reach, and returns both.
func applyLayers(tb testing.TB, budget Budget, layers ...[]byte) (tree, outside string, err error) {
	tb.Helper()
	base := tb.TempDir()
	tree, outside = filepath.Join(base, "tree"), filepath.Join(base, "outside")
	atodtest.MkdirAll(tb, tree)
	atodtest.MkdirAll(tb, outside)
	atodtest.WriteFile(tb, filepath.Join(outside, "secret"), "host secret")
	a, err := Open(context.Background(), tree, Options{Budget: budget})
	if err != nil {
		tb.Fatal(err)
	}
	defer a.Close()
	for _, l := range layers {
		if err = a.Apply(bytes.NewReader(l)); err != nil {
			break
		}
	}
	return tree, outside, err
}

func TestApplyLayers(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	lower := layertest.Tar(t,
		layertest.Dir("etc/"), layertest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		layertest.Dir("a/"), layertest.Dir("a/b/"), layertest.File("a/b/gone", "x"), layertest.File("a/b/stays", "x"), layertest.File("a/lower", "x"),
		layertest.File("usr/bin/tool", "#!tool"), // no parent entries: made on the way
		layertest.Symlink("bin", "usr/bin"), layertest.Symlink("abs", "/etc/passwd"),
		layertest.File("replaced-by-dir", "x"), layertest.Dir("replaced-by-file/"), layertest.File("replaced-by-file/child", "x"),
		layertest.Entry{Name: "owned", Body: "x", Type: tar.TypeReg, Mode: 0o4755, UID: 1000, GID: 1001},
		layertest.Entry{Name: "fifo", Type: tar.TypeFifo, Mode: 0o600},
		layertest.Dir("dev/"), layertest.Device("dev/null", tar.TypeChar), layertest.Device("dev/pts/x", tar.TypeChar),
		layertest.Entry{Name: "world", Body: "x", Type: tar.TypeReg, Mode: 0o666},
		layertest.Entry{Name: "sticky/", Type: tar.TypeDir, Mode: 0o1777},
		layertest.Dir("o/"), layertest.Dir("o/kept/"), layertest.File("o/kept/lower", "x"), layertest.File("o/gone", "x"),
	)
	upper := layertest.Tar(t,
		layertest.Whiteout("a/b/gone"), layertest.Whiteout("never-was"),
		layertest.Dir("a/"), layertest.Opaque("a"), layertest.File("a/new", "new"), layertest.File("a/b/again", "x"),
		layertest.Hardlink("usr/bin/tool-link", "usr/bin/tool"),
		layertest.Hardlink("abs-link", "abs"),
		layertest.Dir("replaced-by-dir/"), layertest.File("replaced-by-file", "now a file"),
		layertest.File("./etc//passwd", "root:x:0:0::/root:/bin/sh\nrunner:x:1000:1000::/home:/bin/sh\n"),
		// The opaque marker after entries of its own layer below it.
		layertest.File("o/kept/upper", "x"), layertest.Opaque("o"), layertest.File("o/later", "x"), layertest.Opaque("o"),
	)
	tree, _, err := applyLayers(t, DefaultBudget, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(rel string) bool {
		_, err := os.Lstat(filepath.Join(tree, rel))
		return err == nil
	}
	for _, rel := range []string{"a/b/gone", "a/b/stays", "a/lower", "replaced-by-file/child", "dev/null", "dev/pts/x",
		"o/gone", "o/kept/lower"} {
		if exists(rel) {
			t.Errorf("%s survived a whiteout or opaque directory", rel)
		}
	}
	for _, rel := range []string{"a/new", "a/b/again", "usr/bin/tool", "bin", "abs", "fifo", "o/kept/upper", "o/later"} {
		if !exists(rel) {
			t.Errorf("%s is missing", rel)
		}
	}
	var tool, link syscall.Stat_t
	if err := syscall.Stat(filepath.Join(tree, "usr/bin/tool"), &tool); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(tree, "usr/bin/tool-link"), &link); err != nil {
		t.Fatal(err)
	}
	if tool.Ino != link.Ino || tool.Nlink != 2 {
		t.Errorf("hard link to a lower layer's file: inodes %d, %d, nlink %d", tool.Ino, link.Ino, tool.Nlink)
	}
	if target, err := os.Readlink(filepath.Join(tree, "abs-link")); err != nil || target != "/etc/passwd" {
		t.Errorf("hard link to a symlink is %q, %v; want the symlink itself", target, err)
	}
	if info, err := os.Lstat(filepath.Join(tree, "replaced-by-dir")); err != nil || !info.IsDir() {
		t.Errorf("replaced-by-dir = %v, %v; want a directory", info, err)
	}
	if data, _ := os.ReadFile(filepath.Join(tree, "replaced-by-file")); string(data) != "now a file" {
		t.Errorf("replaced-by-file = %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(tree, "etc/passwd")); !strings.Contains(string(data), "runner") {
		t.Errorf("etc/passwd not replaced: %q", data)
	}
	var owned syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(tree, "owned"), &owned); err != nil {
		t.Fatal(err)
	}
	if owned.Uid != ImageIDShift+1000 || owned.Gid != ImageIDShift+1001 || owned.Mode&0o7777 != 0o755 {
		t.Errorf("owned: uid %d gid %d mode %o; want the image's 1000 and 1001 shifted, 0755 (set-id dropped)", owned.Uid, owned.Gid, owned.Mode&0o7777)
	}
	for rel, want := range map[string]uint32{"world": 0o644, "sticky": 0o1755, "usr/bin/tool": 0o644} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(tree, rel), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != want {
			t.Errorf("%s has mode %o, want %o: no host user may write the store", rel, st.Mode&0o7777, want)
		}
	}
	var root syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(tree, "etc/passwd"), &root); err != nil || root.Uid != 0 {
		t.Errorf("root's file is owned by %d (%v), want 0", root.Uid, err)
	}
	if info, _ := os.Stat(filepath.Join(tree, "usr/bin/tool")); info == nil || info.ModTime().Unix() != 1700000000 {
		t.Errorf("usr/bin/tool lost its modification time: %v", info)
	}
}

// TestApplyHostile: archives no image builder makes are refused, and
// nothing outside the tree is written, read into it or removed.
func TestApplyHostile(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	for _, tc := range []struct {
		name   string
		layers [][]byte
		want   error
	}{
		{"dotdot", [][]byte{layertest.Tar(t, layertest.File("../outside/pwned", "x"))}, ErrHostile},
		{"dotdot inside", [][]byte{layertest.Tar(t, layertest.File("a/../../outside/pwned", "x"))}, ErrHostile},
		{"absolute", [][]byte{layertest.Tar(t, layertest.File("/outside/pwned", "x"))}, ErrHostile},
		{"symlink then file", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside"), layertest.File("esc/pwned", "x"))}, ErrHostile},
		{"absolute symlink then file", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "/"), layertest.File("esc/tmp/pwned", "x"))}, ErrHostile},
		{"symlink in a lower layer", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside")), layertest.Tar(t, layertest.File("esc/pwned", "x"))}, ErrHostile},
		{"dir replaced by symlink", [][]byte{layertest.Tar(t, layertest.Dir("d/"), layertest.Symlink("d", "../outside"), layertest.File("d/pwned", "x"))}, ErrHostile},
		{"symlink then dir", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside"), layertest.Dir("esc/sub/"))}, ErrHostile},
		{"hardlink out", [][]byte{layertest.Tar(t, layertest.Hardlink("stolen", "../outside/secret"))}, ErrHostile},
		{"hardlink absolute", [][]byte{layertest.Tar(t, layertest.Hardlink("stolen", "/etc/passwd"))}, ErrHostile},
		{"hardlink through symlink", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside"), layertest.Hardlink("stolen", "esc/secret"))}, ErrHostile},
		{"hardlink to nothing", [][]byte{layertest.Tar(t, layertest.Hardlink("stolen", "missing"))}, ErrHostile},
		{"hardlink to a directory", [][]byte{layertest.Tar(t, layertest.Dir("d/"), layertest.Hardlink("stolen", "d"))}, ErrHostile},
		{"whiteout through symlink", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside"), layertest.Whiteout("esc/secret"))}, ErrHostile},
		{"opaque through symlink", [][]byte{layertest.Tar(t, layertest.Symlink("esc", "../outside"), layertest.Opaque("esc"))}, ErrHostile},
		{"char device", [][]byte{layertest.Tar(t, layertest.Device("usr/mem", tar.TypeChar))}, ErrHostile},
		{"block device", [][]byte{layertest.Tar(t, layertest.Device("sda", tar.TypeBlock))}, ErrHostile},
		{"device beside dev", [][]byte{layertest.Tar(t, layertest.Device("devices/null", tar.TypeChar))}, ErrHostile},
		{"long name", [][]byte{layertest.Tar(t, layertest.File(strings.Repeat("a", maxNameBytes+1), "x"))}, ErrHostile},
		{"deep name", [][]byte{layertest.Tar(t, layertest.File(strings.Repeat("a/", maxNameDepth)+"x", "x"))}, ErrHostile},
		{"long symlink", [][]byte{layertest.Tar(t, layertest.Symlink("l", strings.Repeat("a", maxLinkTarget+1)))}, ErrHostile},
		{"directories made on the way", [][]byte{layertest.Tar(t, layertest.File("1/2/3/4/5", ""))}, ErrTooLarge},
		{"bytes beyond budget", [][]byte{layertest.Tar(t, layertest.File("big", strings.Repeat("x", 4096)))}, ErrTooLarge},
		{"entries beyond budget", [][]byte{layertest.Tar(t, layertest.File("1", ""), layertest.File("2", ""), layertest.File("3", ""), layertest.File("4", ""), layertest.File("5", ""))}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, outside, err := applyLayers(t, Budget{Bytes: 1024, Entries: 4}, tc.layers...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Log(err)
			entries, _ := os.ReadDir(outside)
			if data, err := os.ReadFile(filepath.Join(outside, "secret")); len(entries) != 1 || err != nil || string(data) != "host secret" {
				t.Errorf("outside changed: %v, %q, %v", entries, data, err)
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Error("/tmp/pwned was written")
			}
			// Nothing in the tree is a link to a file outside it.
			filepath.Walk(tree, func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
						t.Errorf("%s has %d links", p, st.Nlink)
					}
				}
				return nil
			})
		})
	}
}

// TestNormalizeTree: a built tree gets the owners and modes an unpacked one
// gets, hard links shifted once, file capabilities dropped.
func TestNormalizeTree(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	tree := t.TempDir()
	f := filepath.Join(tree, "f")
	atodtest.WriteFile(t, f, "x")
	if err := os.Link(f, filepath.Join(tree, "g")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 1000, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o4777); err != nil {
		t.Fatal(err)
	}
	capped := filepath.Join(tree, "ping")
	atodtest.WriteFile(t, capped, "x")
	// cap_net_raw=ep, as setcap writes it (VFS_CAP_REVISION_2).
	capability := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := syscall.Setxattr(capped, "security.capability", capability, 0); err != nil {
		t.Skipf("setting a file capability: %v", err)
	}
	atodtest.MkdirAll(t, filepath.Join(tree, "tmp"))
	syscall.Chmod(filepath.Join(tree, "tmp"), 0o1777)
	if err := Normalize(tree); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Lstat(f, &st)
	if st.Uid != ImageIDShift+1000 || st.Gid != ImageIDShift+100 || st.Mode&0o7777 != 0o755 {
		t.Errorf("hard-linked file: %d:%d mode %o, want shifted once and 0755", st.Uid, st.Gid, st.Mode&0o7777)
	}
	syscall.Lstat(filepath.Join(tree, "tmp"), &st)
	if st.Mode&0o7777 != 0o1755 {
		t.Errorf("tmp mode %o, want 1755", st.Mode&0o7777)
	}
	if _, err := syscall.Getxattr(capped, "security.capability", make([]byte, 64)); err == nil {
		t.Error("the file capability survived")
	}
}
