package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Applier applies layers onto one tree, in order; it holds the tree open
// and counts what the layers write against the budget.
type Applier struct {
	ctx    context.Context
	root   int // O_DIRECTORY fd of the tree
	budget Budget
	bytes  int64 // of file contents written so far
	count  int64 // entries applied so far

	// The directory the last entry was in, reused (duplicated) while
	// consecutive entries share it; dropped on every removal, since a
	// removal may take the directory away.
	cacheDir string
	cacheFD  int
}

// Open returns an Applier of the directory tree, which must exist (an
// empty directory, for an image's first layer). Applying stops, with
// context.Cause, once ctx ends. The caller closes it.
func Open(ctx context.Context, tree string, opts Options) (*Applier, error) {
	fd, err := unix.Open(tree, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", tree, err)
	}
	return &Applier{ctx: ctx, root: fd, budget: opts.Budget.WithDefaults(), cacheFD: -1}, nil
}

// Close lets go of the tree.
func (a *Applier) Close() {
	a.dropCache()
	unix.Close(a.root)
}

func (a *Applier) dropCache() {
	if a.cacheFD >= 0 {
		unix.Close(a.cacheFD)
	}
	a.cacheDir, a.cacheFD = "", -1
}

// dir opens directory rel (cleaned, "" for the root) of the tree, creating
// missing directories on the way (archives need not list parents first).
// The caller closes the fd it returns.
func (a *Applier) dir(rel string) (int, error) {
	if rel == "" {
		return unix.Dup(a.root)
	}
	if rel == a.cacheDir && a.cacheFD >= 0 {
		return unix.Dup(a.cacheFD)
	}
	a.dropCache()
	fd, err := unix.Dup(a.root)
	if err != nil {
		return -1, err
	}
	walked := ""
	for _, comp := range strings.Split(rel, "/") {
		walked = path.Join(walked, comp)
		next, err := openDirAt(fd, comp)
		if errors.Is(err, unix.ENOENT) {
			// A directory made on the way is an entry like any other.
			a.count++
			if a.budget.Entries > 0 && a.count > a.budget.Entries {
				unix.Close(fd)
				return -1, fmt.Errorf("%w: more than %d files", ErrTooLarge, a.budget.Entries)
			}
			if err = unix.Mkdirat(fd, comp, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = openDirAt(fd, comp)
				if err == nil {
					if err = unix.Fchmod(next, 0o755); err != nil { // whatever the umask
						unix.Close(next)
					}
				}
			}
		}
		if err != nil {
			unix.Close(fd)
			var st unix.Stat_t
			if unix.Fstatat(a.root, walked, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return -1, fmt.Errorf("%w: %s is a symbolic link, and entries may not be written through one", ErrHostile, walked)
			}
			return -1, fmt.Errorf("opening directory %s: %w", walked, err)
		}
		unix.Close(fd)
		fd = next
	}
	a.cacheDir, a.cacheFD = rel, fd
	return unix.Dup(fd)
}

func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			if err == unix.ENOTDIR || err == unix.ELOOP {
				// Not a directory, or a symlink (O_NOFOLLOW): the
				// caller says which.
				return -1, err
			}
			return fd, err
		}
	}
}

// layerState is what applying one layer tracks: the paths it has put in
// place, which its own opaque markers must not remove.
type layerState struct {
	// added holds the paths this layer put in place, and the directories
	// above them (true for directories), by pathKey: a layer of long names
	// costs 16 bytes per path, not the name.
	added map[pathKey]bool
	// opaqued holds the directories this layer made opaque already: lower
	// content cannot come back, so another marker there changes nothing.
	opaqued map[pathKey]bool
}

// pathKey identifies a path in layerState.
type pathKey [16]byte

func keyOf(p string) pathKey {
	sum := sha256.Sum256([]byte(p))
	return pathKey(sum[:16])
}

// Apply applies one uncompressed layer, read from r to the end of its tar
// archive (what follows is left unread). Errors about the archive wrap
// ErrHostile or ErrTooLarge; on an error the tree holds part of the layer.
func (a *Applier) Apply(r io.Reader) error {
	st := layerState{added: map[pathKey]bool{}, opaqued: map[pathKey]bool{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		if err := a.ctx.Err(); err != nil {
			return context.Cause(a.ctx)
		}
		a.count++
		if a.budget.Entries > 0 && a.count > a.budget.Entries {
			return fmt.Errorf("%w: more than %d files", ErrTooLarge, a.budget.Entries)
		}
		if err := a.entry(&st, hdr, tr); err != nil {
			return err
		}
	}
}

// entry applies one archive entry.
func (a *Applier) entry(st *layerState, hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root: it stays 0755 root:root, as Install sets it
	}
	parent, base := path.Split(name)
	parent = strings.TrimSuffix(parent, "/")

	if base == opaqueWhiteout {
		return a.opaque(st, parent)
	}
	if target, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if target == "" || target == "." || target == ".." {
			return fmt.Errorf("%w: malformed whiteout %q", ErrHostile, hdr.Name)
		}
		dfd, err := a.dir(parent)
		if err != nil {
			return fmt.Errorf("applying whiteout %s: %w", name, err)
		}
		defer unix.Close(dfd)
		return a.removeAt(dfd, target, path.Join(parent, target))
	}

	dfd, err := a.dir(parent)
	if err != nil {
		return fmt.Errorf("extracting %s: %w", name, err)
	}
	defer unix.Close(dfd)
	// The entry and its parents are this layer's: an opaque marker
	// anywhere above keeps them. Parents recorded already have theirs
	// recorded too.
	st.added[keyOf(name)] = hdr.Typeflag == tar.TypeDir
	for p := dirOf(name); p != ""; p = dirOf(p) {
		k := keyOf(p)
		if st.added[k] {
			break
		}
		st.added[k] = true
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(dfd, base, name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse: // the reader turns the old TypeRegA into TypeReg
		return a.file(dfd, base, name, hdr, body)
	case tar.TypeSymlink:
		return a.symlink(dfd, base, name, hdr)
	case tar.TypeLink:
		return a.hardlink(dfd, base, name, hdr)
	case tar.TypeFifo:
		if err := a.replace(dfd, base, name); err != nil {
			return err
		}
		if err := unix.Mknodat(dfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return fmt.Errorf("creating fifo %s: %w", name, err)
		}
		return a.meta(dfd, base, name, hdr, false)
	case tar.TypeChar, tar.TypeBlock:
		// Trees made by debootstrap or mmdebstrap and by image builders carry the
		// usual nodes in /dev, where the sandbox mounts its own /dev:
		// they are left out. Anywhere else a node has no business.
		if parent == "dev" || strings.HasPrefix(parent, "dev/") {
			return nil
		}
		return fmt.Errorf("%w: %s is a device node (%d:%d); images may hold devices only in /dev, which the sandbox replaces",
			ErrHostile, name, hdr.Devmajor, hdr.Devminor)
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("%w: %s has unknown type %q", ErrHostile, name, hdr.Typeflag)
	}
}

// opaque removes what lower layers put in directory rel, keeping what this
// layer put there, also below it.
func (a *Applier) opaque(st *layerState, rel string) error {
	k := keyOf(rel)
	if st.opaqued[k] {
		return nil
	}
	st.opaqued[k] = true
	dfd, err := a.dir(rel)
	if err != nil {
		return fmt.Errorf("applying opaque marker of %s: %w", rel, err)
	}
	defer unix.Close(dfd)
	return a.removeLower(st, dfd, rel)
}

// removeLower removes what is in directory dfd (rel) but not in st.added.
func (a *Applier) removeLower(st *layerState, dfd int, rel string) error {
	names, err := readDirNames(dfd)
	if err != nil {
		return fmt.Errorf("applying opaque marker of %s: %w", rel, err)
	}
	// What opaque markers visit counts as entries, so that markers
	// arranged to revisit large directories stop at the budget.
	a.count += int64(len(names))
	if a.budget.Entries > 0 && a.count > a.budget.Entries {
		return fmt.Errorf("%w: more than %d files", ErrTooLarge, a.budget.Entries)
	}
	for _, n := range names {
		p := path.Join(rel, n)
		isDir, added := st.added[keyOf(p)]
		if !added {
			if err := a.removeAt(dfd, n, p); err != nil {
				return err
			}
			continue
		}
		if !isDir {
			continue
		}
		// A directory of this layer, or one it wrote below: what lower
		// layers left in it goes too.
		sub, err := openDirAt(dfd, n)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return fmt.Errorf("applying opaque marker of %s: %w", rel, err)
		}
		err = a.removeLower(st, sub, p)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists a directory by fd without moving the fd's offset for
// others (it reads through its own duplicate open).
func readDirNames(dfd int) ([]string, error) {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeAt removes name in dfd, recursively, without following links. A
// missing name is not an error (whiteouts may name what is not there).
func (a *Applier) removeAt(dfd int, name, rel string) error {
	a.dropCache()
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	sub, err := openDirAt(dfd, name)
	if err != nil {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	names, err := readDirNames(sub)
	if err == nil {
		for _, n := range names {
			if err = a.removeAt(sub, n, path.Join(rel, n)); err != nil {
				break
			}
		}
	}
	unix.Close(sub)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	return nil
}

// replace clears the way for a new non-directory at name.
func (a *Applier) replace(dfd int, name, rel string) error {
	var st unix.Stat_t
	err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("extracting %s: %w", rel, err)
	}
	return a.removeAt(dfd, name, rel)
}

func (a *Applier) mkdir(dfd int, name, rel string, hdr *tar.Header) error {
	var st unix.Stat_t
	err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		// A lower layer's directory stays, with this layer's metadata.
	case err == nil || errors.Is(err, unix.ENOENT):
		if err == nil {
			if err := a.replace(dfd, name, rel); err != nil {
				return err
			}
		}
		if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
			return fmt.Errorf("creating directory %s: %w", rel, err)
		}
	default:
		return fmt.Errorf("extracting %s: %w", rel, err)
	}
	return a.meta(dfd, name, rel, hdr, false)
}

func (a *Applier) file(dfd int, name, rel string, hdr *tar.Header, body io.Reader) error {
	if hdr.Size < 0 {
		return fmt.Errorf("%w: %s has size %d", ErrHostile, rel, hdr.Size)
	}
	a.bytes += hdr.Size
	if a.budget.Bytes > 0 && a.bytes > a.budget.Bytes {
		return fmt.Errorf("%w: its files pass %d bytes at %s", ErrTooLarge, a.budget.Bytes, rel)
	}
	if err := a.replace(dfd, name, rel); err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	// tar.Reader stops at the entry's size, and the size is budgeted.
	if n, err := io.Copy(f, body); err != nil {
		return fmt.Errorf("writing %s: %w", rel, NoSpaceHint(err))
	} else if n != hdr.Size {
		return fmt.Errorf("writing %s: archive ended after %d of %d bytes", rel, n, hdr.Size)
	}
	if err := unix.Fchown(fd, storedID(hdr.Uid), storedID(hdr.Gid)); err != nil {
		return fmt.Errorf("setting owner of %s: %w", rel, rootHint(err))
	}
	if err := unix.Fchmod(fd, fileMode(hdr)); err != nil {
		return fmt.Errorf("setting mode of %s: %w", rel, err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", rel, err)
	}
	return nil
}

func (a *Applier) symlink(dfd int, name, rel string, hdr *tar.Header) error {
	if hdr.Linkname == "" || len(hdr.Linkname) > maxLinkTarget || strings.ContainsRune(hdr.Linkname, 0) {
		return fmt.Errorf("%w: symlink %s has target %.40q", ErrHostile, rel, hdr.Linkname)
	}
	if err := a.replace(dfd, name, rel); err != nil {
		return err
	}
	if err := unix.Symlinkat(hdr.Linkname, dfd, name); err != nil {
		return fmt.Errorf("creating symlink %s: %w", rel, err)
	}
	return a.meta(dfd, name, rel, hdr, true)
}

func (a *Applier) hardlink(dfd int, name, rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link %s: %w", rel, err)
	}
	if target == "" {
		return fmt.Errorf("%w: hard link %s to the root", ErrHostile, rel)
	}
	if target == rel {
		return nil // a link to itself: nothing to do
	}
	tbase := path.Base(target)
	own, err := a.dir(dirOf(target))
	if err != nil {
		return fmt.Errorf("hard link %s to %s: %w", rel, target, err)
	}
	defer unix.Close(own)
	var st unix.Stat_t
	if err := unix.Fstatat(own, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%w: hard link %s to %s, which the archive does not hold (%v)", ErrHostile, rel, target, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%w: hard link %s to directory %s", ErrHostile, rel, target)
	}
	if err := a.replace(dfd, name, rel); err != nil {
		return err
	}
	// Flags 0: a link to a symlink links the symlink, never its target.
	if err := unix.Linkat(own, tbase, dfd, name, 0); err != nil {
		return fmt.Errorf("hard link %s to %s: %w", rel, target, err)
	}
	return nil
}

// meta sets owner, mode and modification time of a new entry.
func (a *Applier) meta(dfd int, name, rel string, hdr *tar.Header, isLink bool) error {
	if err := unix.Fchownat(dfd, name, storedID(hdr.Uid), storedID(hdr.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting owner of %s: %w", rel, rootHint(err))
	}
	if !isLink {
		if err := unix.Fchmodat(dfd, name, fileMode(hdr), 0); err != nil {
			return fmt.Errorf("setting mode of %s: %w", rel, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", rel, err)
	}
	return nil
}

// rootHint adds what to do to a permission error of a write to the tree.
func rootHint(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (changing the image store needs root)", err)
	}
	return err
}

// errNoSpace is what NoSpaceHint adds.
var errNoSpace = errors.New("no space left for the image; free space on the store's file system and try again")

// NoSpaceHint says what to do about a full disk (ENOSPC, EDQUOT) in err,
// once however often it is called on the same error.
func NoSpaceHint(err error) error {
	if (errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)) && !errors.Is(err, errNoSpace) {
		return fmt.Errorf("%w: %w", err, errNoSpace)
	}
	return err
}

// ReadFile reads a small regular file of the tree, rel being its path from
// the tree's root, never following a symbolic link on the way: what an
// image says about itself (its /etc/passwd, say) can be read from it
// without reaching outside it.
func ReadFile(tree, rel string) ([]byte, error) {
	a, err := Open(context.Background(), tree, Options{})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	dfd, err := a.dir(dirOf(rel))
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, path.Base(rel), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return io.ReadAll(io.LimitReader(f, 16<<20))
}
