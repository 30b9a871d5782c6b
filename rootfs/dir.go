package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/rootfs/image"
)

// Store finds images by name.
type Store interface {
	Lookup(name string) (image.Image, error)
}

// Dir is a Store of images kept in a directory on the host, laid out as the
// package documentation describes. It resolves names and opens trees afresh
// on every call, so it sees images installed or removed after it was
// opened; it keeps the manifests it decoded, each checked against its file
// on every read (manifestCache).
type Dir struct {
	root string // absolute, clean
	// orphaned is signalled when a Lease of a tree no name points at any
	// more is released, so that a collector (see Orphaned) can remove it.
	orphaned chan struct{}
	// manifests are the manifests decoded, by file: a run reads its
	// image's three times (the request's language check, its lease and
	// its sandbox's), and decoding was 3 % of the daemon's CPU (issue 13).
	manifests *manifestCache
}

// manifestCache keeps decoded manifests by path, each with the identity of
// the file it was decoded from (device, inode, size, modification and
// change times): a file replaced or rewritten is decoded again. atod's
// writers replace a manifest (a new file renamed over it: a new inode); a
// file changed within settle of now is decoded but not kept, since a second
// change in the same tick of the file system's clock (1 to 4 ms before
// Linux 6.13, a second on some) would leave its times as they were. Nor is
// one larger than maxCachedBytes kept.
type manifestCache struct {
	settle  time.Duration
	mu      sync.Mutex
	entries map[string]cachedManifest
}

// The cache's bounds.
const (
	manifestSettle = 2 * time.Second
	maxCachedBytes = 64 << 10
)

type cachedManifest struct {
	file fileIdentity
	m    *manifest
}

type fileIdentity struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

// maxCachedManifests bounds the cache: a store holds a few dozen trees; past
// the bound (trees come and go) it starts over.
const maxCachedManifests = 256

// get returns the manifest of f, decoded now or before.
func (c *manifestCache) get(f *os.File) (*manifest, error) {
	if c == nil {
		return readManifest(f)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	// Dev is an int32 on darwin, a uint32 on mips.
	id := fileIdentity{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
	c.mu.Lock()
	e, ok := c.entries[f.Name()]
	c.mu.Unlock()
	if ok && e.file == id {
		return e.m.clone(), nil
	}
	m, err := readManifest(f)
	if err != nil {
		return nil, err
	}
	changed := time.Unix(st.Ctim.Unix())
	if mtime := time.Unix(st.Mtim.Unix()); mtime.After(changed) {
		changed = mtime
	}
	if time.Since(changed) < c.settle || st.Size > maxCachedBytes {
		return m, nil
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedManifests {
		clear(c.entries)
	}
	c.entries[f.Name()] = cachedManifest{file: id, m: m.clone()}
	c.mu.Unlock()
	return m, nil
}

// clone is a copy of m that shares nothing with it.
func (m *manifest) clone() *manifest {
	c := *m
	c.Env = slices.Clone(m.Env)
	c.Versions = maps.Clone(m.Versions)
	return &c
}

var _ Store = (*Dir)(nil)

// TreeDir is the directory that holds a tree's files, in the store
// (trees/ID/rootfs) as in a work directory that Install makes an image.
const TreeDir = "rootfs"

// The store's layout; see the package documentation.
const (
	namesDir     = "names"
	treesDir     = "trees"
	workDir      = ".work"
	lockFile     = ".lock"
	manifestFile = "image.json"
	leaseFile    = "lease" // flocked by runs (shared) and GC (exclusive)
	// maxManifestBytes bounds what Lookup reads; image.json is a few hundred bytes.
	maxManifestBytes = 1 << 20
)

// OpenDir returns the store kept in root. root need not exist yet: until it
// does, every Lookup reports ErrNotFound. A relative root is made absolute
// against the current directory, so Image.Path is always absolute.
func OpenDir(root string) (d *Dir, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("opening image store %s: %w", root, err)
		}
	}()
	if root == "" {
		return nil, errors.New("no directory given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !info.IsDir():
		return nil, errors.New("not a directory")
	}
	return &Dir{root: abs, orphaned: make(chan struct{}, 1), manifests: &manifestCache{settle: manifestSettle, entries: map[string]cachedManifest{}}}, nil
}

// Root returns the absolute directory the store keeps its images in.
func (d *Dir) Root() string { return d.root }

// Orphaned is signalled (at most one pending signal) when a Lease is released
// on a tree that no name points at any more: a GC may now remove it.
func (d *Dir) Orphaned() <-chan struct{} { return d.orphaned }

func (d *Dir) namePath(name string) string { return filepath.Join(d.root, namesDir, name) }
func (d *Dir) treePath(id string) string   { return filepath.Join(d.root, treesDir, id) }

// resolveName returns the id of the tree name points at.
func (d *Dir) resolveName(name string) (string, error) {
	if err := image.CheckName(name); err != nil {
		return "", fmt.Errorf("%w: %w", err, image.ErrNotFound)
	}
	target, err := os.Readlink(d.namePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w; install it with `%s`", image.ErrNotFound, FetchHint(name))
	}
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(target, "../"+treesDir+"/")
	if !ok || CheckTreeID(id) != nil {
		return "", fmt.Errorf("%s points at %q, not at a tree; reinstall the image with `%s`",
			d.namePath(name), target, FetchHint(name))
	}
	return id, nil
}

// Lookup returns the image called name. It costs a readlink, an open, an
// fstat and a stat (and the read of a small JSON file when it changed), so
// it may be called for every request; a run
// uses Acquire instead, which keeps the tree from being collected.
func (d *Dir) Lookup(name string) (img image.Image, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("looking up image %q in %s: %w", name, d.root, err)
		}
	}()
	id, err := d.resolveName(name)
	if err != nil {
		return image.Image{}, err
	}
	f, err := os.Open(filepath.Join(d.treePath(id), manifestFile))
	if err != nil {
		return image.Image{}, d.missingTree(name, id, err)
	}
	defer f.Close()
	return d.image(name, id, f)
}

// missingTree explains a name whose tree cannot be opened. A tree is only
// ever removed once no name points at it, so this is damage (or a race with
// a writer that moved the name meanwhile, which a retry resolves).
func (d *Dir) missingTree(name, id string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: its tree %s is gone; reinstall it with `%s`", image.ErrNotFound, id, FetchHint(name))
	}
	return err
}

// image reads the manifest of tree id from f and checks its tree.
func (d *Dir) image(name, id string, f *os.File) (image.Image, error) {
	m, err := d.manifests.get(f)
	if err != nil {
		return image.Image{}, err
	}
	return d.imageOf(name, id, m, f.Name())
}

// imageOf checks manifest m (read from file) of tree id and its tree.
func (d *Dir) imageOf(name, id string, m *manifest, file string) (image.Image, error) {
	if m.Format < storeFormat {
		// Its owners and modes are the image's own, which host users
		// could match (see ImageIDShift).
		return image.Image{}, fmt.Errorf("%w: tree %.12s was installed by an older atod that kept image owners and write bits as they were; reinstall it with `%s`",
			image.ErrNotFound, id, FetchHint(name))
	}
	if m.ID != id {
		return image.Image{}, fmt.Errorf("%s names tree %q; reinstall the image with `%s`", file, m.ID, FetchHint(name))
	}
	tree := filepath.Join(d.treePath(id), TreeDir)
	info, err := os.Stat(tree)
	if err != nil || !info.IsDir() {
		return image.Image{}, fmt.Errorf("%w: %s is not a directory; reinstall it with `%s`", image.ErrNotFound, tree, FetchHint(name))
	}
	return image.Image{Name: name, ID: id, Path: tree, Env: m.Env, WorkingDir: m.WorkingDir, UID: m.UID, GID: m.GID, Versions: m.Versions}, nil
}

// Acquire returns the image called name, held until the lease is released.
// Holding costs an open file: a shared flock on the tree's lease file,
// which GC takes exclusively before it removes a tree. A daemon that may
// not open lease files (rootless, on root's store) gets the image unheld:
// GC may then remove a tree a run is using, so replace images under such
// a daemon only when it is idle.
func (d *Dir) Acquire(name string) (l *image.Lease, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("acquiring image %q in %s: %w", name, d.root, err)
		}
	}()
	// A writer may move the name between readlink and flock, and GC may
	// then remove the old tree; the lock is only good once the locked file
	// is still the tree's. Each retry means a writer finished meanwhile.
	for range 8 {
		id, err := d.resolveName(name)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(d.treePath(id), leaseFile)
		f, err := os.Open(path)
		// Root of a rootless daemon's user namespace is no root to
		// root's store: its euid is 0 all the same.
		if errors.Is(err, fs.ErrPermission) {
			img, err := d.Lookup(name)
			if err != nil {
				return nil, err
			}
			return image.NewLease(img, nil), nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(d.treePath(id), manifestFile)); serr == nil {
				return nil, fmt.Errorf("tree %s has no lease file; any `atod rootfs` command (e.g. atod rootfs gc) adds it", id)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := flock(f, unix.LOCK_SH); err != nil {
			f.Close()
			return nil, err
		}
		if same, err := samePath(f, path); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		m, err := os.Open(filepath.Join(d.treePath(id), manifestFile))
		if err != nil {
			f.Close()
			return nil, d.missingTree(name, id, err)
		}
		img, err := d.image(name, id, m)
		m.Close()
		if err != nil {
			f.Close()
			return nil, err
		}
		return image.NewLease(img, func() { d.release(img, f) }), nil
	}
	return nil, errors.New("the image keeps changing; try again")
}

// release lets go of a lease's lock on the tree of img, and signals
// Orphaned if no name points at the tree any more.
func (d *Dir) release(img image.Image, lock *os.File) {
	lock.Close()
	// The common case, on every run's path: the name still points here.
	if id, err := d.resolveName(img.Name); err == nil && id == img.ID {
		return
	}
	if named, err := d.isNamed(img.ID); err == nil && !named {
		select {
		case d.orphaned <- struct{}{}:
		default:
		}
	}
}

// isNamed reports whether some name points at tree id.
func (d *Dir) isNamed(id string) (bool, error) {
	names, err := d.names()
	if err != nil {
		return false, err
	}
	for _, n := range names {
		if n.id == id {
			return true, nil
		}
	}
	return false, nil
}

type nameLink struct{ name, id string }

// names lists the store's names, sorted, with the tree each points at ("" for
// a damaged link).
func (d *Dir) names() ([]nameLink, error) {
	entries, err := os.ReadDir(filepath.Join(d.root, namesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing image names in %s: %w", d.root, err)
	}
	var links []nameLink
	for _, e := range entries { // sorted by name
		if image.CheckName(e.Name()) != nil {
			continue // a writer's temporary link
		}
		id, _ := d.resolveName(e.Name())
		links = append(links, nameLink{e.Name(), id})
	}
	return links, nil
}

// Entry describes one tree of the store for `atod rootfs list`.
type Entry struct {
	ID    string
	Names []string // the names pointing at it, sorted; none for a tree awaiting GC
	// Source says where the tree came from: "pull REF", "import PATH" or
	// "build RECIPE".
	Source string
	// Digest is the image's manifest digest, when it came from a registry
	// or an image layout ("" otherwise).
	Digest    string
	SizeBytes int64
	Created   time.Time
	Image     image.Image // Name is the first of Names
	// Err says why the tree is unusable (a damaged manifest or tree).
	Err error
}

// List describes every tree in the store, named ones first, each group
// sorted by name or id.
func (d *Dir) List() ([]Entry, error) {
	links, err := d.names()
	if err != nil {
		return nil, err
	}
	byID := map[string][]string{}
	for _, l := range links {
		if l.id != "" {
			byID[l.id] = append(byID[l.id], l.name)
		}
	}
	dirents, err := os.ReadDir(filepath.Join(d.root, treesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing image trees in %s: %w", d.root, err)
	}
	var entries []Entry
	for _, e := range dirents {
		id := e.Name()
		if CheckTreeID(id) != nil {
			continue
		}
		entry := Entry{ID: id, Names: byID[id]}
		name := id
		if len(entry.Names) > 0 {
			name = entry.Names[0]
		}
		m, err := d.manifestOf(id)
		if err == nil {
			entry.Source, entry.Digest, entry.SizeBytes = m.Source, m.Digest, m.SizeBytes
			entry.Created, _ = time.Parse(time.RFC3339, m.Created)
			entry.Image, entry.Err = d.imageOf(name, id, m, filepath.Join(d.treePath(id), manifestFile))
		} else {
			entry.Err = err
		}
		entries = append(entries, entry)
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		switch {
		case len(a.Names) > 0 && len(b.Names) == 0:
			return -1
		case len(a.Names) == 0 && len(b.Names) > 0:
			return 1
		case len(a.Names) > 0:
			return strings.Compare(a.Names[0], b.Names[0])
		}
		return strings.Compare(a.ID, b.ID)
	})
	return entries, nil
}

// CheckTreeID reports whether id can be a tree's id: 64 lowercase hex
// digits (a sha256 digest).
func CheckTreeID(id string) error {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf("invalid tree id %q", id)
	}
	return nil
}

// storeFormat is the format of trees this atod writes: 2 stores owners
// shifted and no write bits for group and others (see ImageIDShift).
// Trees of an older format are refused, to be reinstalled.
const storeFormat = 2

// manifest is a tree's image.json. clone copies each of its slices and maps.
type manifest struct {
	Format int    `json:"format"`
	ID     string `json:"id"`
	Source string `json:"source"`
	// Digest is the manifest digest of a pulled or imported image.
	Digest     string   `json:"digest,omitempty"`
	Env        []string `json:"env"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"` // as configured; UID and GID resolve it
	UID        uint32   `json:"uid"`
	GID        uint32   `json:"gid"`
	RecipeHash string   `json:"recipe_hash,omitempty"` // what a built tree was built from
	// Versions: by language id, the versions a built tree's languages
	// reported (its recipe's version lines).
	Versions  map[string]string `json:"versions,omitempty"`
	Created   string            `json:"created"`    // RFC 3339
	SizeBytes int64             `json:"size_bytes"` // disk usage of the tree
}

func readManifest(f *os.File) (*manifest, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", f.Name(), maxManifestBytes)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w; reinstall the image", f.Name(), err)
	}
	if i := slices.IndexFunc(m.Env, badEnv); i >= 0 {
		return nil, fmt.Errorf("decoding %s: env entry %q is not KEY=value; reinstall the image", f.Name(), m.Env[i])
	}
	return &m, nil
}

func badEnv(kv string) bool {
	k, _, ok := strings.Cut(kv, "=")
	return !ok || k == "" || strings.ContainsRune(kv, 0)
}

// flock locks f, retrying when a signal interrupts the wait.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("locking %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}

// samePath reports whether path still names the file f has open.
func samePath(f *os.File, path string) (bool, error) {
	var have, want unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &have); err != nil {
		return false, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	err := unix.Stat(path, &want)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return have.Dev == want.Dev && have.Ino == want.Ino, nil
}

// CheckReachable reports whether unprivileged users, as which runs reach
// their trees, can search every directory leading to the store's trees.
func (d *Dir) CheckReachable() error {
	for dir := filepath.Join(d.root, treesDir); ; dir = filepath.Dir(dir) {
		info, err := os.Stat(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil && info.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %o) is not searchable by others, and runs, which have unprivileged uids, could not reach the image trees below it: chmod o+x %s",
				dir, info.Mode().Perm(), dir)
		}
		if dir == "/" {
			return nil
		}
	}
}

// manifestOf reads the manifest of tree id.
func (d *Dir) manifestOf(id string) (*manifest, error) {
	f, err := os.Open(filepath.Join(d.treePath(id), manifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return d.manifests.get(f)
}

// HasTree reports whether the store holds tree id, complete (an installer
// then only names it: see Writer.Install).
func (d *Dir) HasTree(id string) bool {
	_, err := os.Stat(filepath.Join(d.treePath(id), manifestFile))
	return err == nil
}

// RecipeHash returns the tree of image name and the hash of the recipe it
// was built from (Meta.RecipeHash; "" for an image not built).
func (d *Dir) RecipeHash(name string) (id, hash string, err error) {
	img, err := d.Lookup(name)
	if err != nil {
		return "", "", err
	}
	m, err := d.manifestOf(img.ID)
	if err != nil {
		return "", "", fmt.Errorf("looking up image %q in %s: %w", name, d.root, err)
	}
	return img.ID, m.RecipeHash, nil
}
