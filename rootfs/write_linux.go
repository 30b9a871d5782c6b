package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/mkdirs"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/rootfs/layer"
)

// ErrBusy is returned by TryLock while another writer holds the store.
var ErrBusy = errors.New("another atod is changing the image store")

// Writer is the store's one writer: pulls, imports, builds, removals and GC
// hold it, one at a time, so that each can clean up after interrupted ones
// (whose work directories nobody else can be using) and GC sees names that
// do not move under it. Readers (Lookup, Acquire, List) never wait for it.
type Writer struct {
	d    *Dir
	lock *os.File // <root>/.lock, flock(LOCK_EX) held
}

// Lock waits until the store is free, then returns its writer. Creating
// the store's root and directories on the way, it also removes what
// interrupted writers left (see Writer.clean). waiting is called once if
// another writer holds the store.
func (d *Dir) Lock(ctx context.Context, waiting func()) (*Writer, error) {
	for {
		w, err := d.TryLock()
		if !errors.Is(err, ErrBusy) {
			return w, err
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the image store %s: %w", d.root, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TryLock returns the store's writer, or ErrBusy at once if another holds it.
func (d *Dir) TryLock() (*Writer, error) {
	// A fresh host has no /var/lib/atod: make the root's parents too,
	// reachable by everyone for the same reason as below.
	if _, err := mkdirs.All(filepath.Dir(d.root), 0o755); err != nil {
		return nil, fmt.Errorf("creating image store: %w", writeHint(err))
	}
	for _, dir := range []string{d.root, filepath.Join(d.root, namesDir), filepath.Join(d.root, treesDir)} {
		// Runs are mapped to an unprivileged host uid, which must be
		// able to reach every tree: 0755 all the way.
		if err := os.Mkdir(dir, 0o755); err == nil {
			if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
				return nil, fmt.Errorf("creating image store: %w", err)
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating image store: %w", writeHint(err))
		}
		// The root may be reached through a symlink (an operator's
		// /var/lib/atod on another disk); names/ and trees/ may not.
		if err := checkOwnDir(dir, dir == d.root); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(d.root, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking image store: %w", writeHint(err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("locking image store %s: %w", d.root, err)
	}
	w := &Writer{d: d, lock: f}
	if err := w.clean(); err != nil {
		w.Unlock()
		return nil, err
	}
	return w, nil
}

// checkOwnDir refuses a store directory that someone else could change:
// whoever may write it decides what runs' root filesystems hold.
func checkOwnDir(dir string, follow bool) error {
	var st unix.Stat_t
	stat := unix.Lstat
	if follow {
		stat = unix.Stat
	}
	if err := stat(dir, &st); err != nil {
		return fmt.Errorf("checking image store: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("image store: %s is not a directory", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("image store: %s belongs to uid %d, not to this user (%d): chown it, or use another --images", dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("image store: others may write %s (mode %o): chmod go-w %s", dir, st.Mode&0o7777, dir)
	}
	return nil
}

// writeHint adds what to do to a permission error of a store write.
func writeHint(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (changing the image store needs root)", err)
	}
	return err
}

// Unlock releases the store.
func (w *Writer) Unlock() {
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

// clean removes what interrupted writers left in the work directory and
// moves images of the old flat layout (<root>/NAME/{rootfs,image.json},
// written by atod before trees were keyed by digest) into the new one.
func (w *Writer) clean() error {
	work := filepath.Join(w.d.root, workDir)
	entries, err := os.ReadDir(work)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cleaning image store: %w", err)
	}
	for _, e := range entries {
		if err := removeTree(filepath.Join(work, e.Name())); err != nil {
			return fmt.Errorf("cleaning image store: %w", err)
		}
	}
	if err := os.Mkdir(work, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating image store work directory: %w", writeHint(err))
	}
	if err := w.adoptFlat(); err != nil {
		return err
	}
	// Trees installed by atod versions before leases had their own file.
	trees, err := os.ReadDir(filepath.Join(w.d.root, treesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading image trees: %w", err)
	}
	for _, t := range trees {
		if CheckTreeID(t.Name()) == nil {
			if err := createLease(w.d.treePath(t.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// createLease makes a tree's lease file, unless it has one. It is root's
// alone (0600; in a store with an Owner, the owner's, given with the tree):
// whoever can open it can flock it, and a lock held by anyone else could
// stall runs or keep a tree forever.
func createLease(TreeDir string) error {
	f, err := os.OpenFile(filepath.Join(TreeDir, leaseFile), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating lease file: %w", err)
	}
	return f.Close()
}

// adoptFlat moves each complete image of the flat layout into trees/ and
// names it, unless the name is taken already.
func (w *Writer) adoptFlat() error {
	entries, err := os.ReadDir(w.d.root)
	if err != nil {
		return fmt.Errorf("reading image store: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || image.CheckName(name) != nil || name == namesDir || name == treesDir {
			continue
		}
		dir := filepath.Join(w.d.root, name)
		data, err := os.ReadFile(filepath.Join(dir, manifestFile))
		if err != nil {
			continue // not an image, or an unfinished one: leave it to the operator
		}
		var old struct {
			Name       string   `json:"name"`
			Env        []string `json:"env"`
			RecipeHash string   `json:"recipe_hash"`
			Created    string   `json:"created"`
		}
		if json.Unmarshal(data, &old) != nil || old.Name != name {
			continue
		}
		if info, err := os.Stat(filepath.Join(dir, TreeDir)); err != nil || !info.IsDir() {
			continue
		}
		size, err := diskUsage(filepath.Join(dir, TreeDir))
		if err != nil {
			return err
		}
		id := digestHex("flat image", name, old.RecipeHash, old.Created)
		// Format 0: its owners and modes are as the old layout kept
		// them, so it is refused until reinstalled; adopting it lets GC
		// remove it once the name points at the new tree.
		m := &manifest{
			ID: id, Source: "build " + name, Env: old.Env, RecipeHash: old.RecipeHash,
			Created: old.Created, SizeBytes: size,
		}
		// Moved first: a crash before the new manifest is written leaves
		// an unnamed tree that GC removes, never an image that is
		// half of each layout.
		if err := os.Rename(dir, w.d.treePath(id)); err != nil {
			return fmt.Errorf("moving image %s into %s: %w", dir, treesDir, err)
		}
		if err := writeManifest(filepath.Join(w.d.treePath(id), manifestFile), m); err != nil {
			return err
		}
		if err := createLease(w.d.treePath(id)); err != nil {
			return err
		}
		if _, err := os.Lstat(w.d.namePath(name)); errors.Is(err, fs.ErrNotExist) {
			if err := w.setName(name, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// WorkDir is a directory in the store's work area, removed by Discard or
// by the next writer after an interruption.
func (w *Writer) WorkDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(w.d.root, workDir), prefix+"-")
	if err != nil {
		return "", fmt.Errorf("creating work directory: %w", writeHint(err))
	}
	return dir, nil
}

// Discard removes a work directory.
func (w *Writer) Discard(dir string) error { return removeTree(dir) }

// DiscardOnError removes work directory dir if *err is set when the caller
// returns (a deferred call), adding a failure to do so to *err.
func (w *Writer) DiscardOnError(dir string, err *error) {
	if *err == nil {
		return
	}
	if derr := w.Discard(dir); derr != nil {
		*err = fmt.Errorf("%w (and removing its work directory: %v)", *err, derr)
	}
}

// Dir returns the store the writer writes.
func (w *Writer) Dir() *Dir { return w.d }

// Inherit passes the store's lock on to cmd's processes (one open file, one
// flock): should this process die while they run, the store stays locked
// until the last of them is gone, so that no other writer removes the
// work directory they still write.
func (w *Writer) Inherit(cmd *exec.Cmd) {
	cmd.ExtraFiles = append(cmd.ExtraFiles, w.lock)
}

// Meta is what an installer knows of a tree besides its files.
type Meta struct {
	Source, Digest, RecipeHash string
	Env                        []string
	WorkingDir, User           string
	UID, GID                   uint32
	Versions                   map[string]string // by language id (builds)
}

// Install makes the tree in work (a WorkDir holding rootfs/) the image
// called name, under tree id, and returns the id of the tree name pointed at
// before ("" if none). The tree is complete on disk before the name points
// at it; a crash at any point leaves either the old image or the new one. If
// the store holds tree id already, work is discarded and name points at the
// existing tree.
func (w *Writer) Install(work, name, id string, meta Meta) (previous string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("installing image %s: %w", name, err)
		}
	}()
	if err := image.CheckName(name); err != nil {
		return "", err
	}
	if err := CheckTreeID(id); err != nil {
		return "", err
	}
	previous, _ = w.d.resolveName(name)
	dest := w.d.treePath(id)
	if _, err := os.Stat(filepath.Join(dest, manifestFile)); err == nil {
		if work != "" {
			if err := w.Discard(work); err != nil {
				return "", err
			}
		}
	} else if work == "" {
		return "", fmt.Errorf("the store has no tree %s", id)
	} else {
		tree := filepath.Join(work, TreeDir)
		if err := os.Chmod(tree, 0o755); err != nil {
			return "", err
		}
		size, err := diskUsage(tree)
		if err != nil {
			return "", err
		}
		m := &manifest{
			Format: storeFormat, ID: id, Source: meta.Source, Digest: meta.Digest, Env: meta.Env,
			WorkingDir: meta.WorkingDir, User: meta.User, UID: meta.UID, GID: meta.GID,
			RecipeHash: meta.RecipeHash, Versions: meta.Versions, Created: time.Now().UTC().Format(time.RFC3339), SizeBytes: size,
		}
		if err := writeManifest(filepath.Join(work, manifestFile), m); err != nil {
			return "", err
		}
		if err := createLease(work); err != nil {
			return "", err
		}
		// Still in the work area, which no other user can reach.
		owner, err := w.d.Owner()
		if err != nil {
			return "", err
		}
		if err := giveRootFiles(work, Owner{}, owner); err != nil {
			return "", err
		}
		if err := os.Chmod(work, 0o755); err != nil {
			return "", err
		}
		if err := syncFS(work); err != nil {
			return "", err
		}
		if _, err := os.Lstat(dest); err == nil {
			// A damaged tree of the same id (no image.json): replace it.
			if err := w.removeTreeOf(id); err != nil {
				return "", err
			}
		}
		if err := os.Rename(work, dest); err != nil {
			return "", err
		}
		// The tree is in place on disk before a name points at it.
		if err := syncDir(filepath.Dir(dest)); err != nil {
			return "", err
		}
	}
	if err := w.setName(name, id); err != nil {
		return "", err
	}
	if previous == id {
		previous = ""
	}
	return previous, nil
}

// Installed says what an install did.
type Installed struct {
	Name, ID, Digest string
	Previous         string // the tree the name pointed at before, if another
	Reused           bool   // the store held the tree already: nothing was downloaded or built
	Collected        Collected
	CollectErr       error // collecting the previous tree failed (atod rootfs gc retries)
}

// CollectPrevious records in inst that its name pointed at tree previous
// before ("" if at none or the same), and collects that tree unless runs
// hold it (the daemon collects it when they end). The install is done
// either way: a failure to collect is inst.CollectErr, not the install's.
func (w *Writer) CollectPrevious(inst *Installed, previous string) {
	inst.Previous = previous
	if previous != "" {
		inst.Collected, inst.CollectErr = w.GC(previous)
	}
}

// setName points name at tree id, atomically replacing what it pointed at.
func (w *Writer) setName(name, id string) error {
	link := w.d.namePath(name)
	tmp := filepath.Join(filepath.Dir(link), "."+name+".new") // a dot name: readers skip it
	_ = os.Remove(tmp)
	if err := os.Symlink("../"+treesDir+"/"+id, tmp); err != nil {
		return fmt.Errorf("naming image %s: %w", name, writeHint(err))
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("naming image %s: %w", name, err)
	}
	return syncDir(filepath.Dir(link))
}

// Remove removes the name. Its tree stays while runs use it or other names
// point at it; GC removes it after.
func (w *Writer) Remove(name string) (id string, err error) {
	id, err = w.d.resolveName(name)
	if err != nil && !errors.Is(err, image.ErrNotFound) {
		// A damaged link is removed all the same.
		if _, lerr := os.Lstat(w.d.namePath(name)); lerr != nil {
			return "", fmt.Errorf("removing image %s: %w", name, err)
		}
	} else if err != nil {
		return "", fmt.Errorf("removing image %s: %w", name, err)
	}
	if err := os.Remove(w.d.namePath(name)); err != nil {
		return "", fmt.Errorf("removing image %s: %w", name, writeHint(err))
	}
	return id, syncDir(filepath.Join(w.d.root, namesDir))
}

// Collected is what GC did.
type Collected struct {
	Removed []string // ids of the trees removed
	Busy    []string // ids of unnamed trees left because runs use them
	Freed   int64    // bytes of the removed trees, as their manifests say
}

// GC removes every tree no name points at and no run holds. only, when
// not empty, restricts it to those ids.
func (w *Writer) GC(only ...string) (Collected, error) {
	var c Collected
	var errs []error
	links, err := w.d.names()
	if err != nil {
		return c, err
	}
	named := map[string]bool{}
	for _, l := range links {
		named[l.id] = true
	}
	entries, err := os.ReadDir(filepath.Join(w.d.root, treesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("collecting image trees: %w", err)
	}
	for _, e := range entries {
		id := e.Name()
		if CheckTreeID(id) != nil || named[id] || (len(only) > 0 && !slices.Contains(only, id)) {
			// Not a tree (lost+found, say), named, or not asked for.
			continue
		}
		size, busy, err := w.collect(id)
		if err != nil {
			errs = append(errs, err) // and on to the next tree
			continue
		}
		if busy {
			c.Busy = append(c.Busy, id)
			continue
		}
		c.Removed = append(c.Removed, id)
		c.Freed += size
	}
	return c, errors.Join(errs...)
}

// collect removes tree id unless a lease holds it.
func (w *Writer) collect(id string) (size int64, busy bool, err error) {
	f, err := os.Open(filepath.Join(w.d.treePath(id), leaseFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Without the lock, runs may be using it.
		return 0, false, fmt.Errorf("locking image tree %s: %w", id, err)
	}
	if err == nil {
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
			return 0, true, nil
		} else if err != nil {
			return 0, false, fmt.Errorf("locking image tree %s: %w", id, err)
		}
	}
	if m, err := w.d.manifestOf(id); err == nil {
		size = m.SizeBytes
	}
	// With the lock held no lease can begin on this tree: a reader that
	// opened its image.json finds it moved once it gets the lock.
	return size, false, w.removeTreeOf(id)
}

// removeTreeOf moves tree id into the work area, where an interruption of
// the removal leaves it for the next writer, and removes it.
func (w *Writer) removeTreeOf(id string) error {
	if mnt, err := mountUnder(w.d.treePath(id)); err != nil || mnt != "" {
		if err == nil {
			err = fmt.Errorf("%s is a mount point; unmount it first", mnt)
		}
		return fmt.Errorf("removing image tree %s: %w", id, err)
	}
	gone := filepath.Join(w.d.root, workDir, "gc-"+id)
	if err := os.Rename(w.d.treePath(id), gone); err != nil {
		return fmt.Errorf("removing image tree %s: %w", id, err)
	}
	// Out of trees/ on disk before any of it goes: a crash must not bring
	// back half a tree under its id.
	if err := syncDir(filepath.Join(w.d.root, treesDir)); err != nil {
		return err
	}
	return removeTree(gone)
}

// removeTree removes dir and everything in it. os.RemoveAll works from
// directory fds with O_NOFOLLOW, so a directory swapped for a symlink
// meanwhile is never followed. It would descend into a mount, though, which
// a tree never holds: if one is there, it is not ours to empty, and nothing
// is removed.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if mnt, err := mountUnder(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	} else if mnt != "" {
		return fmt.Errorf("removing %s: %s is a mount point; unmount it first", dir, mnt)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// mountUnder returns a mount point at or below dir, if there is one.
func mountUnder(dir string) (string, error) {
	// mountinfo lists paths with every symlink resolved.
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return "", fmt.Errorf("reading mountinfo: %w", err)
	}
	if len(mounts) > 0 {
		return mounts[0].Mountpoint, nil
	}
	return "", nil
}

// diskUsage is the space the files under dir take, hard links counted once.
func diskUsage(dir string) (int64, error) {
	seen := map[[2]uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Nlink > 1 && !e.IsDir() {
			key := [2]uint64{st.Dev, st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring %s: %w", dir, err)
	}
	return total, nil
}

func writeManifest(path string, m *manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if len(data) > maxManifestBytes {
		return fmt.Errorf("%w: its image.json would take %d bytes, more than %d", layer.ErrHostile, len(data), maxManifestBytes)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// syncFS flushes the file system holding dir, so that a tree is on disk
// before a name points at it.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// digestHex is the hex sha256 of its parts, each followed by a NUL.
func digestHex(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00") + "\x00"))
	return hex.EncodeToString(sum[:])
}
