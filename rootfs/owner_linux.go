package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SetOwner makes o the store's owner (see Owner): the trees installed from
// now on keep their root's files as o's, and those the store holds already
// are given to o. From root's store (the trees of which no other user can
// change) that is always possible; a store that is some user's already, and
// holds images, keeps its owner: its trees are that user's to change, and
// root taking over files a user made could be how that user gains root.
// Reinstall its images into a new store instead.
//
// The owner is recorded before any tree is changed, so that an interrupted
// SetOwner is finished by running it again.
func (w *Writer) SetOwner(o Owner) error {
	if o.UID < 0 || o.GID < 0 || o.UID >= maxID || o.GID >= maxID || (o.UID == 0) != (o.GID == 0) {
		return fmt.Errorf("setting the image store's owner: %s: the owner is root (0:0) or a user and group other than root's, below %d", o, maxID)
	}
	trees, err := w.treeIDs()
	if err != nil {
		return err
	}
	cur, err := w.d.Owner()
	if err != nil && len(trees) > 0 {
		return fmt.Errorf("%w (with images in the store, whose they are is not known: write it again as {\"uid\": N, \"gid\": N} of the user whose they are, or remove it if they are root's)",
			err)
	}
	if !cur.IsRoot() && cur != o && len(trees) > 0 {
		return fmt.Errorf("setting the image store's owner: its images are uid %d's already, who may have changed them; "+
			"install them into a new store for %s (atod rootfs owner --images DIR ..., then build, pull or import them there)", cur.UID, o)
	}
	if err := w.writeOwner(o); err != nil {
		return err
	}
	for _, id := range trees {
		// A tree of an older format kept the image's own owners and
		// write bits (a /tmp others may write): no run is served from
		// it, and a host user could have planted links in it. It is
		// left as it is, for GC once reinstalled.
		if m, err := w.d.manifestOf(id); err != nil || m.Format < storeFormat {
			continue
		}
		if err := giveRootFiles(w.d.treePath(id), Owner{}, o); err != nil {
			return err
		}
	}
	return nil
}

// treeIDs lists the trees in the store.
func (w *Writer) treeIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(w.d.root, treesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading image trees: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if CheckTreeID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// writeOwner records o in the store (or removes the record for root).
func (w *Writer) writeOwner(o Owner) error {
	path := filepath.Join(w.d.root, ownerFile)
	if o.IsRoot() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("setting the image store's owner: %w", writeHint(err))
		}
		return syncDir(w.d.root)
	}
	data, _ := json.Marshal(o)
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("setting the image store's owner: %w", writeHint(err))
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync() // on disk before it replaces the old record
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setting the image store's owner: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("setting the image store's owner: %w", err)
	}
	return syncDir(w.d.root)
}

// giveRootFiles gives the files of tree directory dir (its rootfs and its
// lease file) that belong to from's uid (gid) to to's.
//
// to may own part of the tree already: SetOwner run again after an
// interruption, or on every rootless make install. What to owns, to may
// change: swap a directory for a symlink, or put in it a hard link to a
// file of root's elsewhere (fs.protected_hardlinks permitting). So the walk
// never enters a directory of to's, nor changes an entry of to's, and works
// only in directories of root's, which no user may change: children go
// before their directory, so a directory of to's has been given whole
// already. It never resolves a path either: each directory is opened
// relative to its parent with O_NOFOLLOW, each entry changed relative to
// its directory without following it.
func giveRootFiles(dir string, from, to Owner) error {
	if from == to {
		return nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("giving image tree %s to %s: %w", dir, to, err)
	}
	defer unix.Close(fd)
	for _, name := range []string{TreeDir, leaseFile} {
		if err := giveAt(fd, name, dir, from, to); err != nil {
			return fmt.Errorf("giving image tree %s to %s: %w", dir, to, err)
		}
	}
	return nil
}

// giveAt gives entry name of directory dirfd (at path, for errors), and all
// below it, from from to to.
func giveAt(dirfd int, name, path string, from, to Owner) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
	}
	if int(st.Uid) == to.UID && !to.IsRoot() {
		return nil // given already, whole (see giveRootFiles)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		// A tree of the store's keeps no directory others may write
		// (layer.Normalize): one that does is not the walk's to enter.
		if st.Mode&0o022 != 0 {
			return fmt.Errorf("%s: others may write it (mode %o): not a tree of the store's format", filepath.Join(path, name), st.Mode&0o7777)
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
		}
		err = giveEntries(fd, filepath.Join(path, name), from, to)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	uid, gid := -1, -1
	if int(st.Uid) == from.UID {
		uid = to.UID
	}
	if int(st.Gid) == from.GID {
		gid = to.GID
	}
	if uid == -1 && gid == -1 {
		return nil
	}
	// A chown drops set-id bits, which the store never holds, and file
	// capabilities, which it holds none of either (layer.Normalize).
	if err := unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
	}
	return nil
}

// giveEntries gives every entry of directory fd.
func giveEntries(fd int, path string, from, to Owner) error {
	// The fd is the walk's own: reading it through a duplicate leaves it
	// usable for the *at calls.
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), path)
	defer f.Close()
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if err := giveAt(fd, n, path, from, to); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}
