package rootfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/rootfs/layer"
)

var testEnv = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"}

func TestLookup(t *testing.T) {
	root := t.TempDir()
	id := addImage(t, root, "debian-12", `{"env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"], "uid": 1000, "gid": 100, "working_dir": "/src", "future": 1}`)
	d := openDir(t, root)

	img, err := d.Lookup("debian-12")
	if err != nil {
		t.Fatal(err)
	}
	want := image.Image{Name: "debian-12", ID: id, Path: filepath.Join(root, treesDir, id, TreeDir), Env: testEnv, WorkingDir: "/src", UID: 1000, GID: 100}
	if img.Name != want.Name || img.ID != want.ID || img.Path != want.Path || !slices.Equal(img.Env, want.Env) ||
		img.WorkingDir != want.WorkingDir || img.UID != want.UID || img.GID != want.GID {
		t.Errorf("Lookup = %+v, want %+v", img, want)
	}
	if _, err := os.Stat(filepath.Join(img.Path, "bin")); err != nil {
		t.Errorf("Path is not the tree: %v", err)
	}
}

func TestLookupNotFound(t *testing.T) {
	d := openDir(t, t.TempDir())
	_, err := d.Lookup("debian-12")
	if !errors.Is(err, image.ErrNotFound) {
		t.Fatalf("err = %v, want image.ErrNotFound", err)
	}
	// The operator must learn how to get the image.
	if !strings.Contains(err.Error(), "atod rootfs build debian-12") {
		t.Errorf("err = %v, want advice to run atod rootfs build debian-12", err)
	}
	_, err = d.Lookup("python-3")
	if !strings.Contains(err.Error(), "atod rootfs pull") {
		t.Errorf("err = %v, want advice to pull", err)
	}
}

func TestLookupRootMissing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not", "yet")
	d := openDir(t, root)
	if _, err := d.Lookup("debian-12"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("err = %v, want image.ErrNotFound", err)
	}
	if entries, err := d.List(); err != nil || len(entries) != 0 {
		t.Errorf("List = %v, %v; want nothing", entries, err)
	}
	// Images installed after OpenDir are found.
	addImage(t, root, "late", `{}`)
	if _, err := d.Lookup("late"); err != nil {
		t.Errorf("Lookup(late) after installing it: %v", err)
	}
}

func TestLookupDamaged(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "syntax", `{"id": "x"`)
	addImage(t, root, "bad-env", `{"env": ["PATH"]}`)
	addImage(t, root, "empty-key", `{"env": ["=x"]}`)
	addImage(t, root, "huge", `{"pad": "`+strings.Repeat("x", maxManifestBytes)+`"}`)
	wrong := addImage(t, root, "wrong-id", `{}`)
	atodtest.WriteFile(t, filepath.Join(root, treesDir, wrong, manifestFile), `{"id": "`+strings.Repeat("0", 64)+`"}`)
	gone := addImage(t, root, "tree-gone", `{}`)
	if err := os.RemoveAll(filepath.Join(root, treesDir, gone)); err != nil {
		t.Fatal(err)
	}
	noTree := addImage(t, root, "no-rootfs", `{}`)
	if err := os.RemoveAll(filepath.Join(root, treesDir, noTree, TreeDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, namesDir, "outside")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)

	for _, name := range []string{"syntax", "bad-env", "empty-key", "huge", "wrong-id", "tree-gone", "no-rootfs", "outside"} {
		if _, err := d.Lookup(name); err == nil {
			t.Errorf("Lookup(%q) succeeded", name)
		}
		if _, err := d.Acquire(name); err == nil {
			t.Errorf("Acquire(%q) succeeded", name)
		}
	}
	entries, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	for _, e := range entries {
		if e.Err != nil {
			damaged++
		}
	}
	if damaged != 6 { // all but tree-gone (no tree) and outside (no tree)
		t.Errorf("List reports %d damaged trees, want 6: %+v", damaged, entries)
	}
}

func TestLookupInvalidName(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root)
	for _, name := range []string{"", ".", "..", "../x", "a/b", "/etc", ".tmp-abc", "Debian",
		"-x", "_x", "a b", "a\x00", "débian", "x.new" + "/", strings.Repeat("a", 251)} {
		_, err := d.Lookup(name)
		if !errors.Is(err, image.ErrInvalidName) || !errors.Is(err, image.ErrNotFound) {
			t.Errorf("Lookup(%q) err = %v, want image.ErrInvalidName and image.ErrNotFound", name, err)
		}
	}
	for _, name := range []string{"a", "0", "debian-12", "python3.12_slim", strings.Repeat("a", 250)} {
		if err := image.CheckName(name); err != nil {
			t.Errorf("image.CheckName(%q) = %v, want nil", name, err)
		}
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	idB := addImage(t, root, "b", `{"env": ["A=1"], "source": "pull r/b:1", "digest": "sha256:ab", "size_bytes": 4096, "created": "2026-01-02T03:04:05Z"}`)
	idA := addImage(t, root, "a", `{}`)
	if err := os.Symlink("../trees/"+idB, filepath.Join(root, namesDir, "b2")); err != nil {
		t.Fatal(err)
	}
	orphan := addImage(t, root, "orphan", `{}`)
	if err := os.Remove(filepath.Join(root, namesDir, "orphan")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)

	entries, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("List = %+v, want 3 entries", entries)
	}
	if entries[0].ID != idA || entries[1].ID != idB || entries[2].ID != orphan {
		t.Errorf("List order = %s %s %s, want a, b, the orphan", entries[0].ID, entries[1].ID, entries[2].ID)
	}
	b := entries[1]
	if !slices.Equal(b.Names, []string{"b", "b2"}) || b.Source != "pull r/b:1" || b.Digest != "sha256:ab" ||
		b.SizeBytes != 4096 || b.Created.Year() != 2026 || !slices.Equal(b.Image.Env, []string{"A=1"}) || b.Err != nil {
		t.Errorf("entry b = %+v", b)
	}
	if len(entries[2].Names) != 0 {
		t.Errorf("orphan has names %v", entries[2].Names)
	}
}

// TestAcquireKeepsTree: a tree replaced under its name stays while a run
// holds it, GC takes it once released, and Release says so on Orphaned.
func TestAcquireKeepsTree(t *testing.T) {
	root := t.TempDir()
	old := addImage(t, root, "img", `{}`)
	d := openDir(t, root)
	lease, err := d.Acquire("img")
	if err != nil {
		t.Fatal(err)
	}
	if lease.ID != old {
		t.Fatalf("lease of %s, want %s", lease.ID, old)
	}

	w := lock(t, d)
	work := newWork(t, w, "v2")
	inst, err := w.Install(work, "img", randomID(), Meta{Source: "test", Versions: map[string]string{"lang": "1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if inst != old {
		t.Errorf("Install returned previous %q, want %q", inst, old)
	}
	if img, err := d.Lookup("img"); err != nil || img.Versions["lang"] != "1.2.3" {
		t.Errorf("Lookup after installing with versions = %+v, %v", img, err)
	}
	c, err := w.GC()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Removed) != 0 || !slices.Equal(c.Busy, []string{old}) {
		t.Errorf("GC with a lease held = %+v, want the old tree busy", c)
	}
	if _, err := os.Stat(filepath.Join(lease.Path, "bin")); err != nil {
		t.Errorf("the leased tree lost files: %v", err)
	}
	img, err := d.Lookup("img")
	if err != nil || img.ID == old {
		t.Errorf("Lookup after replacing = %+v, %v; want the new tree", img, err)
	}
	w.Unlock()

	select {
	case <-d.Orphaned():
		t.Fatal("Orphaned before the lease was released")
	default:
	}
	lease.Release()
	lease.Release() // twice is harmless
	select {
	case <-d.Orphaned():
	case <-time.After(timescale.D(time.Second)):
		t.Fatal("no Orphaned signal after releasing the last lease of an unnamed tree")
	}
	w = lock(t, d)
	defer w.Unlock()
	c, err = w.GC()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Removed, []string{old}) || len(c.Busy) != 0 {
		t.Errorf("GC after release = %+v, want the old tree removed", c)
	}
	if _, err := os.Stat(filepath.Join(root, treesDir, old)); !os.IsNotExist(err) {
		t.Errorf("old tree still there: %v", err)
	}
	assertEmptyWork(t, root)
}

// TestAcquireRetriesAfterGC: a reader that opened a tree's image.json just
// before GC removed it finds the current tree instead.
func TestAcquireRetriesAfterGC(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "img", `{}`)
	d := openDir(t, root)
	w := lock(t, d)
	defer w.Unlock()
	for range 20 {
		work := newWork(t, w, "x")
		old, err := w.Install(work, "img", randomID(), Meta{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			l, err := d.Acquire("img")
			if err == nil {
				if _, serr := os.Stat(filepath.Join(l.Path, "bin")); serr != nil {
					err = serr
				}
				l.Release()
			}
			done <- err
		}()
		if _, err := w.GC(old); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Acquire during GC: %v", err)
		}
	}
}

func TestRemoveAndGC(t *testing.T) {
	root := t.TempDir()
	id := addImage(t, root, "img", `{"size_bytes": 8192}`)
	d := openDir(t, root)
	w := lock(t, d)
	defer w.Unlock()
	got, err := w.Remove("img")
	if err != nil || got != id {
		t.Fatalf("Remove = %q, %v; want %q", got, err, id)
	}
	if _, err := d.Lookup("img"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup after Remove: %v", err)
	}
	if _, err := w.Remove("img"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("second Remove: %v, want image.ErrNotFound", err)
	}
	c, err := w.GC()
	if err != nil || !slices.Equal(c.Removed, []string{id}) || c.Freed != 8192 {
		t.Errorf("GC = %+v, %v", c, err)
	}
}

// TestWriterCleansUp: a writer finds what an interrupted one left in the
// work area and removes it, and moves flat-layout images into trees.
func TestWriterCleansUp(t *testing.T) {
	root := t.TempDir()
	atodtest.MkdirAll(t, filepath.Join(root, workDir, "install-123", TreeDir, "usr", "bin"))
	locked := filepath.Join(root, workDir, "gc-x", "d")
	atodtest.MkdirAll(t, locked)
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	// The flat layout of earlier atod versions.
	atodtest.MkdirAll(t, filepath.Join(root, "debian-12", TreeDir, "bin"))
	atodtest.WriteFile(t, filepath.Join(root, "debian-12", manifestFile), `{"name": "debian-12", "env": ["A=1"], "recipe_hash": "ab", "created": "2025-01-02T03:04:05Z"}`)
	atodtest.MkdirAll(t, filepath.Join(root, "unfinished", TreeDir))
	d := openDir(t, root)

	w := lock(t, d)
	w.Unlock()
	assertEmptyWork(t, root)
	// Adopted, so that GC can remove it once it is rebuilt, but refused:
	// its owners and modes are as the old layout kept them.
	if _, err := d.Lookup("debian-12"); !errors.Is(err, image.ErrNotFound) || !strings.Contains(err.Error(), "atod rootfs build debian-12") {
		t.Errorf("Lookup of an adopted flat image: %v, want a refusal saying to rebuild it", err)
	}
	entries, err := d.List()
	if err != nil || len(entries) != 1 || !slices.Equal(entries[0].Names, []string{"debian-12"}) {
		t.Errorf("List = %+v, %v; want the adopted tree named debian-12", entries, err)
	}
	if _, err := os.Stat(filepath.Join(root, "unfinished")); err != nil {
		t.Errorf("an unfinished flat build was touched: %v", err)
	}
}

func TestTryLockBusy(t *testing.T) {
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	if _, err := d.TryLock(); !errors.Is(err, ErrBusy) {
		t.Errorf("TryLock while locked = %v, want ErrBusy", err)
	}
	// The timeout is what is under test: Lock gives up when ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := d.Lock(ctx, func() { waited = true }); err == nil || !waited {
		t.Errorf("Lock while locked = %v (waited %v), want a timeout after waiting", err, waited)
	}
	w.Unlock()
	lock(t, d).Unlock()
}

// TestKilledWriterLeavesWork: a writer killed outright leaves a work
// directory the next writer removes (the daemon's start counts: it takes
// the writer lock to collect).
func TestKilledWriterLeavesWork(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root)
	w := lock(t, d)
	work := newWork(t, w, "half")
	atodtest.MkdirAll(t, filepath.Join(work, TreeDir, "usr", "lib"))
	// No Unlock: the process "dies" and its lock goes with its file.
	w.lock.Close()
	if _, err := os.Stat(work); err != nil {
		t.Fatal(err)
	}
	lock(t, d).Unlock() // the next start
	assertEmptyWork(t, root)
	if entries, err := d.List(); err != nil || len(entries) != 0 {
		t.Errorf("store holds %+v (%v) after a killed install", entries, err)
	}
}

// addImage installs image name under root with a small tree and returns its
// tree id; manifest is image.json without its id, which is added.
func addImage(tb testing.TB, root, name, manifest string) string {
	tb.Helper()
	id := digestHex("test", name)
	dir := filepath.Join(root, treesDir, id)
	atodtest.MkdirAll(tb, filepath.Join(dir, TreeDir, "bin"))
	if strings.HasPrefix(manifest, "{") && strings.Contains(manifest, "}") && !strings.Contains(manifest, `"id"`) {
		manifest = `{"format": 2, "id": "` + id + `", ` + strings.TrimPrefix(manifest, "{")
		manifest = strings.Replace(manifest, `, }`, `}`, 1)
	}
	atodtest.WriteFile(tb, filepath.Join(dir, manifestFile), manifest)
	if err := createLease(dir); err != nil {
		tb.Fatal(err)
	}
	atodtest.MkdirAll(tb, filepath.Join(root, namesDir))
	if err := os.Symlink("../"+treesDir+"/"+id, filepath.Join(root, namesDir, name)); err != nil {
		tb.Fatal(err)
	}
	return id
}

func lock(tb testing.TB, d *Dir) *Writer {
	tb.Helper()
	w, err := d.TryLock()
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// newWork makes a work directory holding a small tree.
func newWork(tb testing.TB, w *Writer, marker string) string {
	tb.Helper()
	work, err := w.WorkDir("test")
	if err != nil {
		tb.Fatal(err)
	}
	atodtest.MkdirAll(tb, filepath.Join(work, TreeDir, "bin"))
	atodtest.WriteFile(tb, filepath.Join(work, TreeDir, "marker"), marker)
	return work
}

func assertEmptyWork(tb testing.TB, root string) {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(root, workDir))
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		tb.Errorf("work area holds %v", entries)
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

// TestLeaseIsRootsAlone: the lease file cannot be opened by other users,
// who could otherwise stall runs by flocking it; the world-readable
// image.json is not what runs lock.
func TestLeaseIsRootsAlone(t *testing.T) {
	root := t.TempDir()
	id := addImage(t, root, "img", `{}`)
	info, err := os.Stat(filepath.Join(root, treesDir, id, leaseFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("lease file: %v, %v; want mode 0600", info, err)
	}
	f, err := os.Open(filepath.Join(root, treesDir, id, manifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)
	done := make(chan error, 1)
	go func() {
		l, err := d.Acquire("img")
		if err == nil {
			l.Release()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timescale.D(5 * time.Second)):
		t.Fatal("Acquire waits for a lock on image.json")
	}
}

// TestNamesWithSuffixes: installing foo leaves the image foo.new alone.
func TestNamesWithSuffixes(t *testing.T) {
	root := t.TempDir()
	addImage(t, root, "foo.new", `{}`)
	d := openDir(t, root)
	w := lock(t, d)
	defer w.Unlock()
	if _, err := w.Install(newWork(t, w, "x"), "foo", randomID(), Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"foo", "foo.new"} {
		if _, err := d.Lookup(n); err != nil {
			t.Errorf("Lookup(%s): %v", n, err)
		}
	}
}

// TestGCLeavesOthersAlone: GC removes only trees, and never empties a
// mount inside one.
func TestGCLeavesOthersAlone(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	root := t.TempDir()
	d := openDir(t, root)
	lock(t, d).Unlock()
	atodtest.MkdirAll(t, filepath.Join(root, treesDir, "lost+found"))
	assertGCKeepsMount(t, d, root)
	if _, err := os.Stat(filepath.Join(root, treesDir, "lost+found")); err != nil {
		t.Errorf("GC removed lost+found: %v", err)
	}
}

// TestGCMountBehindSymlink: the mount check sees through a store root
// reached by a symlink.
func TestGCMountBehindSymlink(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "store")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, link)
	lock(t, d).Unlock()
	assertGCKeepsMount(t, d, real)
}

// assertGCKeepsMount mounts a tmpfs inside an unnamed tree of d (whose root
// is real) and checks that GC refuses to remove the tree and leaves the
// mount's files alone.
func assertGCKeepsMount(t *testing.T, d *Dir, real string) {
	t.Helper()
	id := addImage(t, real, "img", `{}`)
	if err := os.Remove(filepath.Join(real, namesDir, "img")); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(real, treesDir, id, TreeDir, "bin")
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(mnt, syscall.MNT_DETACH)
	atodtest.WriteFile(t, filepath.Join(mnt, "precious"), "x")
	w := lock(t, d)
	defer w.Unlock()
	if _, err := w.GC(); err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Errorf("GC of a tree holding a mount: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "precious")); err != nil {
		t.Errorf("the mount was emptied: %v", err)
	}
}

// TestStoreMustBeOurs: a store directory others may write is refused.
func TestStoreMustBeOurs(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	root := t.TempDir()
	d := openDir(t, root)
	lock(t, d).Unlock()
	trees := filepath.Join(root, treesDir)
	if err := os.Chmod(trees, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := d.TryLock(); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("TryLock with trees/ writable by others: %v, want a refusal saying what to do", err)
	}
	os.Chmod(trees, 0o755)
	if err := os.Chown(trees, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := d.TryLock(); err == nil || !strings.Contains(err.Error(), "belongs to uid 1234") {
		t.Errorf("TryLock with trees/ someone else's: %v, want a refusal", err)
	}
}

// TestManifestTooLarge: an image whose config grows past what image.json
// may hold once encoded is refused at install, not at every lookup after.
func TestManifestTooLarge(t *testing.T) {
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	env := []string{"X=" + strings.Repeat("<", 200<<10)} // 6 bytes each in JSON
	if _, err := w.Install(newWork(t, w, "x"), "big-env", randomID(), Meta{Env: env}); !errors.Is(err, layer.ErrHostile) {
		t.Fatalf("Install: %v, want ErrHostile", err)
	}
	if _, err := d.Lookup("big-env"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup after a refused install: %v", err)
	}
}

// randomID is a tree id for a test tree.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// TestAcquireUnheldInAUserNamespace: a process that may not open the lease
// files, though its euid is 0 (a rootless daemon, root of its own user
// namespace, on root's store, which it sees as nobody's), gets the image
// unheld, as README's "Rootless" says.
func TestAcquireUnheldInAUserNamespace(t *testing.T) {
	if root := os.Getenv("ATOD_TEST_ACQUIRE_STORE"); root != "" {
		// The re-executed test, in the user namespace.
		l, err := openDir(t, root).Acquire("img")
		if err != nil {
			t.Fatalf("euid %d: %v", os.Geteuid(), err)
		}
		l.Release()
		return
	}
	atodtest.NeedRoot(t)
	root := t.TempDir()
	for dir := root; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addImage(t, root, "img", `{}`)
	cmd := exec.Command("/proc/self/exe", "-test.run=^TestAcquireUnheldInAUserNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), "ATOD_TEST_ACQUIRE_STORE="+root)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		// 0 inside: host nobody, not the root that created it.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Errorf("Acquire as root of a user namespace that maps nobody: %v\n%s", err, out)
	}
}

// TestManifestCache: a manifest decoded once is decoded again when its file
// changes, in place (even to one of the same size) or replaced, and what a
// caller does with an image's environment reaches no other caller.
func TestManifestCache(t *testing.T) {
	root := t.TempDir()
	id := addImage(t, root, "x", `{"env": ["A=1"], "versions": {"x": "1"}}`)
	file := filepath.Join(root, treesDir, id, manifestFile)
	// An hour old: the rewrite below, in the same tick of the file
	// system's clock on kernels before 6.13, has other times all the same.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)
	d.manifests.settle = 0 // its change time is now (Chtimes)
	env := func() []string {
		t.Helper()
		img, err := d.Lookup("x")
		if err != nil {
			t.Fatal(err)
		}
		return img.Env
	}
	first := env()
	if !slices.Equal(first, []string{"A=1"}) {
		t.Fatalf("env %q, want [A=1]", first)
	}
	first[0] = "A=changed by a caller"
	l, err := d.Acquire("x")
	if err != nil {
		t.Fatal(err)
	}
	l.Image.Versions["x"] = "changed by a caller"
	l.Release()
	img, err := d.Lookup("x")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Env, []string{"A=1"}) || img.Versions["x"] != "1" {
		t.Errorf("after callers changed theirs: env %q, versions %v; want [A=1], x: 1", img.Env, img.Versions)
	}
	// In place, the same size.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(strings.Replace(string(b), "A=1", "A=2", 1))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := env(); !slices.Equal(got, []string{"A=2"}) {
		t.Errorf("after the manifest was rewritten in place: env %q, want [A=2]", got)
	}
	// Replaced by a damaged one.
	atodtest.WriteFile(t, file+".new", `{"format": 2, "id": "`+id+`", "env": ["B"]}`)
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup("x"); err == nil {
		t.Error("Lookup succeeded after the manifest was replaced by a damaged one")
	}
}

// TestManifestCacheSettles: a manifest changed a moment ago is not kept, so
// that a second change within the file system clock's tick, which leaves
// its times as they were, is still seen.
func TestManifestCacheSettles(t *testing.T) {
	root := t.TempDir()
	id := addImage(t, root, "x", `{"env": ["A=1"]}`)
	d := openDir(t, root)
	if _, err := d.Lookup("x"); err != nil {
		t.Fatal(err)
	}
	if n := len(d.manifests.entries); n != 0 {
		t.Errorf("a manifest written a moment ago was kept (%d entries)", n)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(root, treesDir, id, manifestFile), old, old); err != nil {
		t.Fatal(err)
	}
	d.manifests.settle = 0
	if _, err := d.Lookup("x"); err != nil {
		t.Fatal(err)
	}
	if n := len(d.manifests.entries); n != 1 {
		t.Errorf("a settled manifest was not kept (%d entries)", n)
	}
}
