package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/rootfs/layer"
)

// owners returns uid:gid of each path.
func owners(t *testing.T, paths ...string) []Owner {
	t.Helper()
	var got []Owner
	for _, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		got = append(got, Owner{int(st.Uid), int(st.Gid)})
	}
	return got
}

// TestSetOwner: a store given to a user keeps its images' root files as
// that user's, those it held and those installed after, and nothing else:
// not the image's other owners, not what a symlink in a tree points at,
// not the store's own directories.
func TestSetOwner(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners
	root := t.TempDir()
	id := addImage(t, root, "img", `{}`)
	tree := filepath.Join(root, treesDir, id)
	rootfs := filepath.Join(tree, TreeDir)
	atodtest.WriteFile(t, filepath.Join(rootfs, "bin", "sh"), "#!")
	shifted := filepath.Join(rootfs, "home")
	atodtest.MkdirAll(t, shifted)
	if err := os.Chown(shifted, layer.ImageIDShift+1000, 0); err != nil {
		t.Fatal(err)
	}
	// A symlink out of the tree: only the link is given, never its target.
	outside := filepath.Join(t.TempDir(), "outside")
	atodtest.WriteFile(t, outside, "host file")
	if err := os.Symlink(outside, filepath.Join(rootfs, "bin", "out")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)
	if o, err := d.Owner(); err != nil || !o.IsRoot() {
		t.Fatalf("a new store's owner: %v, %v; want root", o, err)
	}
	w := lock(t, d)
	defer w.Unlock()
	user := Owner{UID: 1234, GID: 1235}
	if err := w.SetOwner(user); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Owner{{UID: maxID, GID: 5}, {UID: 5, GID: 1 << 32}, {UID: -1, GID: 5}} {
		if err := w.SetOwner(bad); err == nil {
			t.Errorf("SetOwner(%v) succeeded", bad)
		}
	}
	if o, err := d.Owner(); err != nil || o != user {
		t.Fatalf("owner after SetOwner: %v, %v; want %v", o, err, user)
	}
	want := []Owner{user, user, user, {layer.ImageIDShift + 1000, user.GID}, user, user, {0, 0}, {0, 0}, {0, 0}, {0, 0}}
	got := owners(t, rootfs, filepath.Join(rootfs, "bin"), filepath.Join(rootfs, "bin", "sh"), shifted,
		filepath.Join(rootfs, "bin", "out"), filepath.Join(tree, leaseFile),
		outside, tree, filepath.Join(root, treesDir), filepath.Join(tree, manifestFile))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("owners after SetOwner: %v, want %v", got, want)
			break
		}
	}

	// An install into the store is the owner's too.
	work := newWork(t, w, "new")
	if _, err := w.Install(work, "new", digestHex("test", "new"), Meta{}); err != nil {
		t.Fatal(err)
	}
	newTree := filepath.Join(root, treesDir, digestHex("test", "new"))
	if got := owners(t, filepath.Join(newTree, TreeDir), filepath.Join(newTree, TreeDir, "marker"), filepath.Join(newTree, leaseFile)); got[0] != user || got[1] != user || got[2] != user {
		t.Errorf("an installed tree's root, file and lease: %v, want %v", got, user)
	}

	// Run again after an interruption, it finishes the job: the walk had
	// given a/ whole (children before their directory), not yet b/ nor
	// the tree's root. It never enters what is the user's already: a hard
	// link there to a file of root's elsewhere stays root's.
	atodtest.MkdirAll(t, filepath.Join(rootfs, "a"))
	atodtest.MkdirAll(t, filepath.Join(rootfs, "b"))
	atodtest.WriteFile(t, filepath.Join(rootfs, "a", "f"), "given")
	atodtest.WriteFile(t, filepath.Join(rootfs, "b", "f"), "not yet")
	for _, p := range []string{filepath.Join(rootfs, "a", "f"), filepath.Join(rootfs, "a")} {
		if err := os.Lchown(p, user.UID, user.GID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(rootfs, 0, 0); err != nil {
		t.Fatal(err)
	}
	rootsFile := filepath.Join(t.TempDir(), "roots")
	atodtest.WriteFile(t, rootsFile, "root's")
	if err := os.Link(rootsFile, filepath.Join(rootfs, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := w.SetOwner(user); err != nil {
		t.Fatal(err)
	}
	got = owners(t, filepath.Join(rootfs, "b", "f"), filepath.Join(rootfs, "b"), rootfs, rootsFile)
	if want := []Owner{user, user, user, {0, 0}}; !slices.Equal(got, want) {
		t.Errorf("owners of b/f, b, the root and a file of root's linked from a/ after the next SetOwner: %v, want %v", got, want)
	}

	// The user's images are not given to anyone else, root included.
	for _, o := range []Owner{{}, {UID: 1300, GID: 1300}} {
		err := w.SetOwner(o)
		if err == nil || !strings.Contains(err.Error(), "uid 1234's already") {
			t.Errorf("SetOwner(%v) on a store whose images are a user's: %v", o, err)
		}
	}
	if o, err := d.Owner(); err != nil || o != user {
		t.Errorf("owner after refused changes: %v, %v; want %v", o, err, user)
	}
	if err := w.SetOwner(Owner{UID: 5, GID: 0}); err == nil {
		t.Error("SetOwner with root's group and a user's uid succeeded")
	}
}

// TestSetOwnerLeavesOldTrees: a tree of an older format, which kept the
// image's write bits (a /tmp anyone may write), is not walked: a hard link
// planted there to a file of root's elsewhere stays root's.
func TestSetOwnerLeavesOldTrees(t *testing.T) {
	atodtest.NeedRoot(t)
	root := t.TempDir()
	id := addImage(t, root, "old", `{}`)
	tree := filepath.Join(root, treesDir, id)
	atodtest.WriteFile(t, filepath.Join(tree, manifestFile), `{"format": 1, "id": "`+id+`"}`)
	tmp := filepath.Join(tree, TreeDir, "tmp")
	atodtest.MkdirAll(t, tmp)
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "roots")
	atodtest.WriteFile(t, outside, "root's")
	if err := os.Link(outside, filepath.Join(tmp, "link")); err != nil {
		t.Fatal(err)
	}
	w := lock(t, openDir(t, root))
	defer w.Unlock()
	if err := w.SetOwner(Owner{UID: 1234, GID: 1234}); err != nil {
		t.Fatal(err)
	}
	if got := owners(t, outside, filepath.Join(tree, TreeDir)); got[0] != (Owner{}) || got[1] != (Owner{}) {
		t.Errorf("a file of root's linked from an old tree, and the tree: %v, want both root's", got)
	}
	// A tree of the current format with a directory others may write is
	// refused, not walked.
	id2 := addImage(t, root, "writable", `{}`)
	bad := filepath.Join(root, treesDir, id2, TreeDir, "tmp")
	atodtest.MkdirAll(t, bad)
	if err := os.Chmod(bad, 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(bad, "link")); err != nil {
		t.Fatal(err)
	}
	if err := w.SetOwner(Owner{UID: 1234, GID: 1234}); err == nil || !strings.Contains(err.Error(), "others may write it") {
		t.Errorf("SetOwner over a tree with a directory others may write: %v", err)
	}
	if got := owners(t, outside); got[0] != (Owner{}) {
		t.Errorf("a file of root's linked from a writable directory: %v", got[0])
	}
}

// TestSetOwnerOfEmptyStore: a store without images may change hands.
func TestSetOwnerOfEmptyStore(t *testing.T) {
	atodtest.NeedRoot(t)
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	for _, o := range []Owner{{UID: 1234, GID: 1234}, {UID: 1300, GID: 1301}, {}} {
		if err := w.SetOwner(o); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Owner(); err != nil || got != o {
			t.Errorf("owner %v, %v; want %v", got, err, o)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Root(), ownerFile)); !os.IsNotExist(err) {
		t.Errorf("root's store keeps an owner file: %v", err)
	}
	// A damaged record is replaced while the store holds no image; with
	// one, whose it is is not known, and the error says what to do.
	atodtest.WriteFile(t, filepath.Join(d.Root(), ownerFile), `{"uid": 4294967295}`)
	if _, err := d.Owner(); err == nil {
		t.Error("a uid of 2^32-1 read as an owner")
	}
	if err := w.SetOwner(Owner{UID: 1234, GID: 1234}); err != nil {
		t.Errorf("SetOwner over a damaged record of an empty store: %v", err)
	}
	atodtest.WriteFile(t, filepath.Join(d.Root(), ownerFile), `garbage`)
	addImage(t, d.Root(), "img", `{}`)
	if err := w.SetOwner(Owner{UID: 1234, GID: 1234}); err == nil || !strings.Contains(err.Error(), "write it again as") {
		t.Errorf("SetOwner over a damaged record of a store with images: %v", err)
	}
}
