package layer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Normalize gives a tree made otherwise than by an Applier (a Debian
// build) the owners and modes an applied one gets (see ImageIDShift): no
// host user owns or may write anything in it, and no file is set-id or has
// file capabilities. Nothing may change the tree under the walk: it belongs
// in a directory no one else can write (the store's private work area).
func Normalize(tree string) error {
	err := filepath.WalkDir(tree, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		// Hard links show one inode more than once: shift it once.
		if uid, gid := storedID(int(st.Uid)), storedID(int(st.Gid)); st.Uid < ImageIDShift && (uid != int(st.Uid) || gid != int(st.Gid)) {
			if err := os.Lchown(path, uid, gid); err != nil {
				return err
			}
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		// File capabilities would work for a host user running the
		// file from the store, as set-id bits would; runs have none to
		// gain (no_new_privs). Chown drops them for other owners.
		if err := unix.Removexattr(path, "security.capability"); err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("dropping file capabilities of %s: %w", path, err)
		}
		// Chmod after chown, which may clear set-id bits itself.
		if mode := st.Mode & 0o7777; mode&^0o1755 != 0 {
			perm := fs.FileMode(mode & 0o755)
			if mode&0o1000 != 0 {
				perm |= fs.ModeSticky
			}
			return os.Chmod(path, perm)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("normalizing owners and modes of %s: %w", tree, err)
	}
	return nil
}
