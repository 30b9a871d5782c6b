package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A run's root filesystem is writable, as the service's are: an overlay
// whose lower layer is the image's tree and whose upper layer is a
// size-capped tmpfs of the run's own, so that a program may create, change
// and delete files anywhere (`echo hi > /foo`) while the tree on disk never
// changes, and everything it wrote goes with the run. Its pages are charged
// to the run's memory cgroup too (tmpfs pages are charged to the writer).
//
// An overlay alone would not let a run write /etc: the image's files belong
// to host root (or to the store's owner, Options.ImageRootUID), which the
// run sees as nobody. So the lower layer is an idmapped mount of the tree
// (mount_setattr(2), MOUNT_ATTR_IDMAP) in which the image's root files
// belong to the host id of the run's namespace root, and the files of the image's user (stored as idShift+N, see
// Options.ImageIDShift) to the run's host id: inside, root owns what root
// owns in the image.
//
// The mounts of one run, all in the daemon's mount namespace under
// <StateDir>/roots/<id>/ (mode 0700, owned by the host id of root of the
// run's namespace, which the sandbox's setup needs to reach the overlay;
// no host user has that id):
//
//	lower  the idmapped, read-only clone of the tree (detached once the
//	       overlay holds it)
//	rw     the tmpfs with upper/ and work/ (detached likewise)
//	root   the overlay, the run's root (setupPlan's "root" step)
//
// The overlay is mounted with paths relative to the run's directory, so that
// its options in the run's /proc/self/mountinfo name no host path.

// rootDirs are the per-run mount points, in mount order.
const (
	lowerDir = "lower"
	rwDir    = "rw"
	rootDir  = "root"
)

// writableRoot is the root filesystem of one run.
type writableRoot struct {
	dir string // <StateDir>/roots/<id>
}

// path is the overlay: the run's rootfs.
func (r *writableRoot) path() string { return filepath.Join(r.dir, rootDir) }

// idmapKey names the user namespace whose mapping an idmapped tree of a run
// gets: it depends only on the slot's host ids and the run's ids inside.
type idmapKey struct {
	ids      hostIDs
	uid, gid uint32
}

// idmaps caches, per idmapKey, a user namespace that only holds a mapping
// for mount_setattr(2): making one costs a process.
type idmaps struct {
	mu     sync.Mutex
	byKey  map[idmapKey]*os.File
	helper string // a static program that can wait on its stdin (the static Bash)
}

// nsRootIDs are the host uid and gid of root of a run's namespace: the run's
// own ids when it runs as root, else the slot's second ids (idMappings).
func nsRootIDs(ids hostIDs, uid, gid uint32) (int, int) {
	ru, rg := ids.uid, ids.gid
	if uid != 0 {
		ru = ids.rootUID
	}
	if gid != 0 {
		rg = ids.rootGID
	}
	return ru, rg
}

// storedOwners say how the image store keeps an image's owners: root's
// files as rootUID and rootGID, the image's id N > 0 as shift+N.
type storedOwners struct {
	shift            uint32
	rootUID, rootGID uint32
}

// treeMappings are the idmapped tree's mappings of one kind of id: the
// tree's root (as stored) to root of the run's namespace, and the tree's
// idShift+run (the image's user) to the run's own host id.
func treeMappings(run uint32, host, nsRoot int, storedRoot, idShift uint32) []syscall.SysProcIDMap {
	m := []syscall.SysProcIDMap{{ContainerID: int(storedRoot), HostID: nsRoot, Size: 1}}
	// An id past the last valid one (2^32-2) is stored as no file's owner:
	// nothing to map (and no wrapping around to 0).
	if stored := uint64(idShift) + uint64(run); run != 0 && stored < math.MaxUint32 && stored != uint64(storedRoot) {
		m = append(m, syscall.SysProcIDMap{ContainerID: int(stored), HostID: host, Size: 1})
	}
	return m
}

// userns returns a user namespace file for key, making it on first use.
func (m *idmaps) userns(key idmapKey, owners storedOwners) (*os.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.byKey[key]; ok {
		return f, nil
	}
	ru, rg := nsRootIDs(key.ids, key.uid, key.gid)
	// A process in a new user namespace with the mappings holds it while
	// its file is opened; Go writes the maps before the process runs.
	cmd := exec.Command(m.helper, "-c", "read -r _")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: treeMappings(key.uid, key.ids.uid, ru, owners.rootUID, owners.shift),
		GidMappings: treeMappings(key.gid, key.ids.gid, rg, owners.rootGID, owners.shift),
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("making an idmapping: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("making an idmapping: %w", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	stdin.Close()
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("making an idmapping: %w", err)
	}
	if m.byKey == nil {
		m.byKey = make(map[idmapKey]*os.File)
	}
	m.byKey[key] = f
	return f, nil
}

func (m *idmaps) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, f := range m.byKey {
		f.Close()
		delete(m.byKey, k)
	}
}

// mountWritableRoot makes the writable root of run id over tree, with an
// upper layer of at most size bytes, for a run with ids inside whose slot
// has host ids ids.
func (s *Sandbox) mountWritableRoot(id, tree string, ids hostIDs, uid, gid uint32, size int64) (_ *writableRoot, err error) {
	r := &writableRoot{dir: filepath.Join(s.rootsDir, id)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("mounting the writable root: %w", err)
			if rerr := r.remove(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	// The sandbox's setup reaches the overlay as root of the run's
	// namespace: that host id, and no other user, may pass. (A
	// rootless daemon's runs are the daemon's own uid.)
	if err := os.Mkdir(r.dir, 0o700); err != nil {
		return r, err
	}
	ru, rg := nsRootIDs(ids, uid, gid)
	if err := os.Chown(r.dir, ru, rg); err != nil {
		return r, err
	}
	if err := r.makeMountPoints(); err != nil {
		return r, err
	}
	key := idmapKey{ids: ids, uid: uid, gid: gid}
	idmapped, err := s.mountLower(r, tree, key, !s.rootless)
	if err != nil {
		return r, err
	}
	if err := r.mountUpper(size); err != nil {
		return r, err
	}
	// The overlay's root directory takes its owner and mode from the upper
	// layer's: the tree's root directory's, as the run sees it.
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(r.dir, lowerDir), &st); err != nil {
		return r, err
	}
	upper := filepath.Join(r.dir, rwDir, "upper")
	// A rootless daemon sees the image's files that its user does not own
	// as nobody's, which it cannot give away: the run's root directory is
	// then the run's own.
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil && !(s.rootless && errors.Is(err, unix.EINVAL)) {
		return r, err
	}
	if err := os.Chmod(upper, fs.FileMode(st.Mode&0o777)|stickyOf(st.Mode)); err != nil {
		return r, err
	}
	err = mountOverlayIn(r.dir, s.overlayOptions())
	if errors.Is(err, unix.EINVAL) && idmapped {
		// Overlayfs takes idmapped layers since Linux 5.19; before, the
		// run gets its overlay over the tree as it is.
		s.warnNoIdmap(tree, err)
		if err := unix.Unmount(filepath.Join(r.dir, lowerDir), unix.MNT_DETACH); err != nil {
			return r, fmt.Errorf("detaching %s: %w", lowerDir, err)
		}
		if _, err := s.mountLower(r, tree, key, false); err != nil {
			return r, err
		}
		err = mountOverlayIn(r.dir, s.overlayOptions())
	}
	if err != nil {
		return r, err
	}
	// The overlay holds its layers now: the host's mount table need not.
	for _, d := range []string{lowerDir, rwDir} {
		if err := unix.Unmount(filepath.Join(r.dir, d), unix.MNT_DETACH); err != nil {
			return r, fmt.Errorf("detaching %s: %w", d, err)
		}
	}
	return r, nil
}

// overlayOptions are the overlay's options besides its layers. volatile:
// the upper layer is a tmpfs that dies with the run, so overlayfs need not
// sync it. index and the redirect and metacopy features stay off: they
// would record the layers' identities, which are the run's alone anyway.
// In a user namespace (rootless), overlayfs keeps its own marks (opaque
// directories) in user.* extended attributes, since trusted.* ones take
// privilege, and refuses to follow redirects (redirect_dir=off means
// "follow existing ones"; nofollow is the unprivileged "off").
func (s *Sandbox) overlayOptions() string {
	if s.rootless {
		return "volatile,index=off,redirect_dir=nofollow,metacopy=off,userxattr"
	}
	return "volatile,index=off,redirect_dir=off,metacopy=off"
}

// makeMountPoints makes r's three mount points (see rootDirs).
func (r *writableRoot) makeMountPoints() error {
	for _, d := range []string{lowerDir, rwDir, rootDir} {
		if err := os.Mkdir(filepath.Join(r.dir, d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// mountUpper mounts r's upper layer: a tmpfs of size bytes and rootInodes
// inodes at rw, holding the overlay's upper and work directories.
func (r *writableRoot) mountUpper(size int64) error {
	rw := filepath.Join(r.dir, rwDir)
	if err := unix.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=0700,size=%d,nr_inodes=%d", size, rootInodes)); err != nil {
		return fmt.Errorf("mounting the upper layer's tmpfs: %w", err)
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(rw, d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// rootInodes caps the files a run can create in its root.
const rootInodes = 65536

func stickyOf(mode uint32) fs.FileMode {
	if mode&unix.S_ISVTX != 0 {
		return fs.ModeSticky
	}
	return 0
}

// mountLower mounts a read-only clone of tree at r's lower directory,
// idmapped for the run if idmap is set and the tree's filesystem allows it,
// and reports whether it is. A rootless daemon cannot idmap (that takes
// privilege over the store's filesystem): its runs see the store's owners
// as it does.
func (s *Sandbox) mountLower(r *writableRoot, tree string, key idmapKey, idmap bool) (idmapped bool, err error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, tree, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return false, fmt.Errorf("cloning the image's tree: %w", err)
	}
	defer unix.Close(fd)
	const plain = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	attr := unix.MountAttr{Attr_set: plain}
	if idmap {
		ns, err := s.idmaps.userns(key, s.imageOwners)
		if err != nil {
			return false, err
		}
		attr = unix.MountAttr{Attr_set: plain | unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	}
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
	if errors.Is(err, unix.EINVAL) && idmap {
		// The tree's filesystem cannot be idmapped (9p, NFS, overlayfs;
		// tmpfs before Linux 6.3).
		s.warnNoIdmap(tree, err)
		idmap, attr = false, unix.MountAttr{Attr_set: plain}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
	}
	if err != nil {
		return false, fmt.Errorf("idmapping the image's tree: %w", err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, filepath.Join(r.dir, lowerDir), unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return false, fmt.Errorf("attaching the image's tree: %w", err)
	}
	return idmap, nil
}

// warnNoIdmap says once that runs cannot get an idmapped view of their
// image. They still get their overlay, but see the image's files as the
// host owns them: root's as nobody's. Under a root daemon the upper layer's
// root directory then belongs to nobody too, so a run may write only its
// tmpfs mounts and what the image lets everyone write.
func (s *Sandbox) warnNoIdmap(tree string, err error) {
	s.noIdmap.Do(func() {
		s.log.Warn("runs cannot get an idmapped view of their image (the store's filesystem cannot be idmapped, or overlayfs takes no idmapped layers before Linux 5.19): they cannot write the image's directories; put the store on ext4, xfs or btrfs",
			"tree", tree, "err", err)
	})
}

// mountOverlayIn mounts the overlay at dir/root with paths relative to dir.
// A process has one working directory for all its threads, so the mount is
// made on a thread of its own that has left the process's (unshare
// CLONE_FS) and is discarded afterwards: the daemon's own working
// directory never moves.
func mountOverlayIn(dir, extra string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unsharing the working directory: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			done <- err
			return
		}
		opts := "lowerdir=" + lowerDir + ",upperdir=" + rwDir + "/upper,workdir=" + rwDir + "/work," + extra
		if err := unix.Mount("overlay", rootDir, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			done <- fmt.Errorf("mounting the overlay: %w", err)
			return
		}
		done <- nil
	}()
	return <-done
}

// remove unmounts and removes r. It never removes through a mount point:
// that would delete what is mounted there (the image's tree, at lowerDir).
func (r *writableRoot) remove() error {
	// Deepest first, each until nothing is mounted there (a stack of
	// mounts comes off one by one), never through a symbolic link: umount2
	// says EINVAL for a directory that is not a mount point, or whose mount
	// it may not take off (one locked, as a rootless daemon's inherited
	// mounts are), ENOENT for one that is not there. A mount point left so
	// is found by the removal, whose rmdir says EBUSY for it (removeDir):
	// the root is kept. This replaces a look at each point's mount ID
	// (mountinfo.Mounted, which first resolves the path's links: 0.7 % of
	// the machine's CPU under load, issue 13); containerd's
	// mount.UnmountAll unmounts until EINVAL too.
	var errs []error
	points := []string{rootDir, rwDir, lowerDir}
	for _, d := range append(points, ".") {
		p := filepath.Join(r.dir, d)
		for n := 0; ; n++ {
			if n == maxStackedMounts {
				errs = append(errs, fmt.Errorf("unmounting %s: more than %d mounts there", p, maxStackedMounts))
				break
			}
			err := ignoringEINTR(func() error { return unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW) })
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
				break
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing the writable root: %w", err)
	}
	// Unmounted, a root is its three empty mount points. Anything else
	// in it (a root whose making failed half way, say) is left to
	// RemoveAll.
	if err := removeDir(r.dir, nil, points); err != nil {
		return fmt.Errorf("removing the writable root: %w", err)
	}
	return nil
}

// maxStackedMounts bounds the unmounts of one point of a writable root:
// atod mounts each once; more is somebody else's doing.
const maxStackedMounts = 8

// removeStaleRoots removes the writable roots an earlier daemon left; their
// mounts went with its mount namespace (EnterOwnMountNamespace). One that
// cannot be removed is logged and left: new roots never reuse a name.
func (s *Sandbox) removeStaleRoots() {
	entries, _ := os.ReadDir(s.rootsDir)
	for _, e := range entries {
		r := &writableRoot{dir: filepath.Join(s.rootsDir, e.Name())}
		if err := r.remove(); err != nil {
			s.log.Warn("cannot remove a stale writable root", "err", err)
		}
	}
}

// checkSearchable refuses a state directory that a run's setup cannot reach:
// the sandbox's setup walks to the run's root (under dir) as root of the
// run's namespace, a host id that only "others" permissions apply
// to, so every directory on the way must be searchable by others.
func checkSearchable(dir string) error { // dir is absolute (New resolves the state directory)
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("state directory %s: runs reach their root filesystem through %s, which others may not search (mode %o): chmod o+x %s, or choose another --state",
				dir, p, st.Mode().Perm(), p)
		}
		if p == "/" {
			return nil
		}
	}
}

// probeRoots checks at startup that this host can give runs their writable
// roots, so that a kernel without user namespaces or overlayfs is one line
// at startup rather than a failure of every run: it makes slot 0's
// idmapping (kept for the first run) and an overlay over a tmpfs in the
// roots directory, and removes the overlay again.
func (s *Sandbox) probeRoots() (err error) {
	if !s.rootless {
		if _, err := s.idmaps.userns(idmapKey{ids: s.slotHostIDs(0)}, s.imageOwners); err != nil {
			return fmt.Errorf("%w%s: every run needs a user namespace of its own", err, userNSHint())
		}
	}
	// The same layout and calls as a run's, over an empty lower layer.
	dir, err := os.MkdirTemp(s.rootsDir, "probe-")
	if err != nil {
		return fmt.Errorf("probing overlayfs: %w", err)
	}
	r := &writableRoot{dir: dir}
	defer func() {
		if rerr := r.remove(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := r.makeMountPoints(); err != nil {
		return fmt.Errorf("probing overlayfs: %w", err)
	}
	if err := r.mountUpper(1 << 20); err != nil {
		return fmt.Errorf("probing overlayfs: %w", err)
	}
	if err := mountOverlayIn(dir, s.overlayOptions()); err != nil {
		return fmt.Errorf("this kernel cannot mount overlayfs, which gives every run its writable root (%w): modprobe overlay, or use a kernel with CONFIG_OVERLAY_FS", err)
	}
	return nil
}
