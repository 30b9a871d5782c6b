package rootfs

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
	"time"
)

// entry is one archive entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func symlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeLink, mode: 0o644}
}
func whiteout(name string) entry {
	return file(filepath.Join(filepath.Dir(name), whiteoutPrefix+filepath.Base(name)), "")
}
func opaqueMarker(dir string) entry    { return file(filepath.Join(dir, opaqueWhiteout), "") }
func device(name string, t byte) entry { return entry{name: name, typ: t, mode: 0o666} }

// layerTar is the uncompressed tar of entries.
func layerTar(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)),
			Uid: e.uid, Gid: e.gid, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX,
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// applyLayers applies layers to a new tree under a fresh directory that
// also holds "outside", a directory no layer may reach, and returns both.
func applyLayers(tb testing.TB, budget Budget, layers ...[]byte) (tree, outside string, err error) {
	tb.Helper()
	base := tb.TempDir()
	tree, outside = filepath.Join(base, "tree"), filepath.Join(base, "outside")
	mkdir(tb, tree)
	mkdir(tb, outside)
	writeFile(tb, filepath.Join(outside, "secret"), "host secret")
	a, err := newApplier(context.Background(), tree, budget)
	if err != nil {
		tb.Fatal(err)
	}
	defer a.Close()
	for _, l := range layers {
		if err = a.apply(bytes.NewReader(l)); err != nil {
			break
		}
	}
	return tree, outside, err
}

func TestApplyLayers(t *testing.T) {
	lower := layerTar(t,
		dir("etc/"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		dir("a/"), dir("a/b/"), file("a/b/gone", "x"), file("a/b/stays", "x"), file("a/lower", "x"),
		file("usr/bin/tool", "#!tool"), // no parent entries: made on the way
		symlink("bin", "usr/bin"), symlink("abs", "/etc/passwd"),
		file("replaced-by-dir", "x"), dir("replaced-by-file/"), file("replaced-by-file/child", "x"),
		entry{name: "owned", body: "x", typ: tar.TypeReg, mode: 0o4755, uid: 1000, gid: 1001},
		entry{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		dir("dev/"), device("dev/null", tar.TypeChar), device("dev/pts/x", tar.TypeChar),
		entry{name: "world", body: "x", typ: tar.TypeReg, mode: 0o666},
		entry{name: "sticky/", typ: tar.TypeDir, mode: 0o1777},
		dir("o/"), dir("o/kept/"), file("o/kept/lower", "x"), file("o/gone", "x"),
	)
	upper := layerTar(t,
		whiteout("a/b/gone"), whiteout("never-was"),
		dir("a/"), opaqueMarker("a"), file("a/new", "new"), file("a/b/again", "x"),
		hardlink("usr/bin/tool-link", "usr/bin/tool"),
		hardlink("abs-link", "abs"),
		dir("replaced-by-dir/"), file("replaced-by-file", "now a file"),
		file("./etc//passwd", "root:x:0:0::/root:/bin/sh\nrunner:x:1000:1000::/home:/bin/sh\n"),
		// The opaque marker after entries of its own layer below it.
		file("o/kept/upper", "x"), opaqueMarker("o"), file("o/later", "x"), opaqueMarker("o"),
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
	if uid, gid, err := resolveUser(tree, "runner"); err != nil || uid != 1000 || gid != 1000 {
		t.Errorf("resolveUser(runner) = %d, %d, %v", uid, gid, err)
	}
	if uid, gid, err := resolveUser(tree, "1234:5"); err != nil || uid != 1234 || gid != 5 {
		t.Errorf("resolveUser(1234:5) = %d, %d, %v", uid, gid, err)
	}
	if _, _, err := resolveUser(tree, "nobody-here"); err == nil {
		t.Error("resolveUser of an unknown name succeeded")
	}
}

// TestApplyHostile: archives no image builder makes are refused, and
// nothing outside the tree is written, read into it or removed.
func TestApplyHostile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers [][]byte
		want   error
	}{
		{"dotdot", [][]byte{layerTar(t, file("../outside/pwned", "x"))}, ErrHostile},
		{"dotdot inside", [][]byte{layerTar(t, file("a/../../outside/pwned", "x"))}, ErrHostile},
		{"absolute", [][]byte{layerTar(t, file("/outside/pwned", "x"))}, ErrHostile},
		{"symlink then file", [][]byte{layerTar(t, symlink("esc", "../outside"), file("esc/pwned", "x"))}, ErrHostile},
		{"absolute symlink then file", [][]byte{layerTar(t, symlink("esc", "/"), file("esc/tmp/pwned", "x"))}, ErrHostile},
		{"symlink in a lower layer", [][]byte{layerTar(t, symlink("esc", "../outside")), layerTar(t, file("esc/pwned", "x"))}, ErrHostile},
		{"dir replaced by symlink", [][]byte{layerTar(t, dir("d/"), symlink("d", "../outside"), file("d/pwned", "x"))}, ErrHostile},
		{"symlink then dir", [][]byte{layerTar(t, symlink("esc", "../outside"), dir("esc/sub/"))}, ErrHostile},
		{"hardlink out", [][]byte{layerTar(t, hardlink("stolen", "../outside/secret"))}, ErrHostile},
		{"hardlink absolute", [][]byte{layerTar(t, hardlink("stolen", "/etc/passwd"))}, ErrHostile},
		{"hardlink through symlink", [][]byte{layerTar(t, symlink("esc", "../outside"), hardlink("stolen", "esc/secret"))}, ErrHostile},
		{"hardlink to nothing", [][]byte{layerTar(t, hardlink("stolen", "missing"))}, ErrHostile},
		{"hardlink to a directory", [][]byte{layerTar(t, dir("d/"), hardlink("stolen", "d"))}, ErrHostile},
		{"whiteout through symlink", [][]byte{layerTar(t, symlink("esc", "../outside"), whiteout("esc/secret"))}, ErrHostile},
		{"opaque through symlink", [][]byte{layerTar(t, symlink("esc", "../outside"), opaqueMarker("esc"))}, ErrHostile},
		{"char device", [][]byte{layerTar(t, device("usr/mem", tar.TypeChar))}, ErrHostile},
		{"block device", [][]byte{layerTar(t, device("sda", tar.TypeBlock))}, ErrHostile},
		{"device beside dev", [][]byte{layerTar(t, device("devices/null", tar.TypeChar))}, ErrHostile},
		{"long name", [][]byte{layerTar(t, file(strings.Repeat("a", maxNameBytes+1), "x"))}, ErrHostile},
		{"deep name", [][]byte{layerTar(t, file(strings.Repeat("a/", maxNameDepth)+"x", "x"))}, ErrHostile},
		{"long symlink", [][]byte{layerTar(t, symlink("l", strings.Repeat("a", maxLinkTarget+1)))}, ErrHostile},
		{"directories made on the way", [][]byte{layerTar(t, file("1/2/3/4/5", ""))}, ErrTooLarge},
		{"bytes beyond budget", [][]byte{layerTar(t, file("big", strings.Repeat("x", 4096)))}, ErrTooLarge},
		{"entries beyond budget", [][]byte{layerTar(t, file("1", ""), file("2", ""), file("3", ""), file("4", ""), file("5", ""))}, ErrTooLarge},
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
	tree := t.TempDir()
	f := filepath.Join(tree, "f")
	writeFile(t, f, "x")
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
	writeFile(t, capped, "x")
	// cap_net_raw=ep, as setcap writes it (VFS_CAP_REVISION_2).
	capability := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := syscall.Setxattr(capped, "security.capability", capability, 0); err != nil {
		t.Skipf("setting a file capability: %v", err)
	}
	mkdir(t, filepath.Join(tree, "tmp"))
	syscall.Chmod(filepath.Join(tree, "tmp"), 0o1777)
	if err := normalizeTree(tree); err != nil {
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
