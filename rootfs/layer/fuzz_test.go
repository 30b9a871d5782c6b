package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/rootfs/layer/layertest"
)

// The layer applier's fuzz targets. Each input is a stack of layers, applied
// by the applier into a tree inside a parent directory that also holds
// sentinels (a file, a directory, a symlink), and replayed by an in-memory
// model of the expected tree. Whatever the archives say:
//
//   - nothing outside the tree changes (the parent's whole tree, contents,
//     link counts and inode change times included, is the same after);
//   - the applier ends where the model ends, with the same kind of error
//     (ErrHostile, ErrTooLarge or another) or none, never with a panic;
//   - the tree is exactly the model's: the same paths, each of the same
//     type, mode, owner, contents, link target and modification time, and
//     the same paths sharing an inode (hard links).
//
// The model is a map from path to node, written from the format's rules
// (OCI whiteouts and opaque directories, hard links to lower layers, the
// store's owners and modes) and the applier's documented refusals; it shares
// no code with the applier.
//
// The fuzzer runs as root (the applier sets owners), and a bug in what it
// tests could write outside the tree: inputs are applied only when every
// absolute path they hold is inside the test's own directory and all their
// ".." components together climb less than the parent's depth below it.

// fuzzDepth is how deep below its temporary directory a fuzz input's parent
// directory is (one more than this): more than maxClimb, so that no input
// reaches further.
const (
	fuzzDepth = 10
	maxClimb  = 8
)

// baseToken in a generated name or link target stands for the parent
// directory's absolute path.
const baseToken = "@BASE@"

// fuzzBudget is a budget small enough to be reached by a fuzz input.
var fuzzBudget = Budget{Bytes: 64, Entries: 24}

// FuzzApplyLayers generates layer stacks from ops (see genLayers): short
// paths over a small alphabet, so that entries of all types meet each other
// in every order. The seed corpus is in testdata/fuzz/FuzzApplyLayers.
func FuzzApplyLayers(f *testing.F) {
	f.Add([]byte("\x00\x14\x01\x02\x05\x01\x02\x00\x0b\x01\x00"))
	root := fuzzRoot(f)
	f.Fuzz(func(t *testing.T, ops []byte) {
		base := fuzzBase(t, root)
		budget := DefaultBudget
		if len(ops) > 0 && ops[0]&0x80 != 0 {
			budget = fuzzBudget
		}
		layers := genLayers(ops, base)
		checkApply(t, base, budget, layers)
	})
}

// FuzzApplyTar applies two layers given as raw bytes, for what the tar
// reader makes of arbitrary archives. The seed corpus is in
// testdata/fuzz/FuzzApplyTar.
func FuzzApplyTar(f *testing.F) {
	f.Add(layertest.Tar(f, layertest.Dir("a/"), layertest.File("a/f", "x")), layertest.Tar(f, layertest.Whiteout("a/f"), layertest.Symlink("l", "../outside")))
	root := fuzzRoot(f)
	f.Fuzz(func(t *testing.T, lower, upper []byte) {
		base := fuzzBase(t, root)
		checkApply(t, base, DefaultBudget, [][]byte{lower, upper})
	})
}

// fuzzRoot is the directory a fuzz target's inputs get their parent
// directories in, fuzzDepth directories below a temporary directory: made
// once per process, not once per input.
func fuzzRoot(f *testing.F) string {
	root := f.TempDir()
	for i := range fuzzDepth {
		root = filepath.Join(root, fmt.Sprint(i))
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		f.Fatal(err)
	}
	return root
}

// fuzzBase makes the parent directory of one input's tree in root: the tree
// (empty, 0755) and the sentinels no layer may reach. It is removed when
// the input is done.
func fuzzBase(t *testing.T, root string) string {
	atodtest.NeedRoot(t) // the applier sets owners
	// An applier that regressed to paths relative to the working
	// directory climbs from here, inside the temporary directory too.
	// Per input, not in fuzzRoot: the seed corpus (testdata/fuzz) is
	// read from the working directory when f.Fuzz starts.
	t.Chdir(root)
	base, err := os.MkdirTemp(root, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, d := range []string{"tree", "outside/b"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"outside/a": "host secret", "outside/b/c": "x", "sibling": "y"} {
		if err := os.WriteFile(filepath.Join(base, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("outside", filepath.Join(base, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(base, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// checkApply applies layers with the applier and the model and compares.
func checkApply(t *testing.T, base string, budget Budget, layers [][]byte) {
	if !safeToApply(layers, base) {
		t.Skip("the input reaches further than the test's directory")
	}
	before := snapshot(t, base)
	tree := filepath.Join(base, "tree")

	a, err := Open(context.Background(), tree, Options{Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	var gotErr error
	gotLayer := -1
	for i, l := range layers {
		if gotErr = a.Apply(bytes.NewReader(l)); gotErr != nil {
			gotLayer = i
			break
		}
	}
	a.Close()

	m := newModel(budget)
	var wantErr error
	wantLayer := -1
	for i, l := range layers {
		if wantErr = m.apply(l); wantErr != nil {
			wantLayer = i
			break
		}
	}

	if after := snapshot(t, base); !maps2Equal(before, after) {
		t.Fatalf("outside the tree changed (applier error: %v):\n%s", gotErr, diffSnapshots(before, after))
	}
	if errKind(gotErr) != errKind(wantErr) || gotLayer != wantLayer {
		t.Fatalf("applier: layer %d, %v (%s)\nmodel: layer %d, %v (%s)", gotLayer, gotErr, errKind(gotErr), wantLayer, wantErr, errKind(wantErr))
	}
	if m.uncertain {
		return // the model cannot say where the applier stopped
	}
	if diff := m.compare(t, tree); diff != "" {
		t.Fatalf("the tree differs from the model's (error %v):\n%s", gotErr, diff)
	}
}

func errKind(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, ErrHostile):
		return "hostile"
	case errors.Is(err, ErrTooLarge):
		return "too large"
	default:
		return "other"
	}
}

// safeToApply reports whether every path the layers hold (names and link
// targets) stays inside the test's directory, whatever the applier does
// with it: absolute ones inside base, and ".." components climbing less
// than base's depth in all.
func safeToApply(layers [][]byte, base string) bool {
	climb := 0
	check := func(p string) bool {
		if strings.HasPrefix(p, "/") {
			// Lexically inside base, and no ".." that a symlink inside
			// could turn into a climb out of it.
			clean := path.Clean(p)
			return (clean == base || strings.HasPrefix(clean, base+"/")) && !slices.Contains(strings.Split(p, "/"), "..")
		}
		for c := range strings.SplitSeq(p, "/") {
			if c == ".." {
				climb++
			}
		}
		return climb <= maxClimb
	}
	for _, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			if !check(hdr.Name) || !check(hdr.Linkname) {
				return false
			}
		}
	}
	return true
}

// fileState is what snapshot records of one path.
type fileState struct {
	mode             uint32
	uid, gid         uint32
	nlink            uint64
	ino              uint64
	mtime, ctime     syscall.Timespec
	contents, target string
}

// snapshot records base's whole tree but what is below tree (and tree's
// times, which entries change): every change a layer could make outside the
// tree, a chmod, chown or link count included, changes the snapshot.
func snapshot(t *testing.T, base string) map[string]fileState {
	tree := filepath.Join(base, "tree")
	out := map[string]fileState{}
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		fs := fileState{mode: st.Mode, uid: st.Uid, gid: st.Gid, nlink: st.Nlink, ino: st.Ino, mtime: st.Mtim, ctime: st.Ctim}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fs.contents = string(data)
		case syscall.S_IFLNK:
			if fs.target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if p == tree {
			fs.nlink, fs.mtime, fs.ctime = 0, syscall.Timespec{}, syscall.Timespec{}
			out[p] = fs
			return filepath.SkipDir
		}
		out[p] = fs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maps2Equal(a, b map[string]fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diffSnapshots(a, b map[string]fileState) string {
	var lines []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			lines = append(lines, "removed: "+k)
		} else if w != v {
			lines = append(lines, fmt.Sprintf("changed: %s: %+v -> %+v", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			lines = append(lines, "added: "+k)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// The model.

// inode is a file of the model's tree; hard links share one.
type inode struct {
	typ      byte // 'd', 'f', 'l' (symlink), 'p' (fifo)
	perm     uint32
	uid, gid int
	data     string // a file's contents
	target   string // a symlink's target
	mtime    time.Time
	hasMtime bool // set from an entry (directories' change with their contents)
}

// model is the tree the layers should make, by path ("a/b"; the root is
// not in it).
type model struct {
	nodes  map[string]*inode
	budget Budget
	count  int64 // entries, as the budget counts them
	bytes  int64
	// uncertain is set when the model stops at a point the applier may
	// reach in another order (a budget reached halfway through an opaque
	// directory's removals, a file cut short): the error kinds still
	// compare, the trees do not.
	uncertain bool

	// Of the layer being applied: what it put in place (true for
	// directories and the directories above its entries), and the
	// directories it has made opaque.
	added   map[string]bool
	opaqued map[string]bool
}

func newModel(budget Budget) *model {
	return &model{nodes: map[string]*inode{}, budget: budget}
}

// modelErr is an error of the model, of one of errKind's kinds.
func hostile(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrHostile}, args...)...)
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTooLarge}, args...)...)
}

func (m *model) countEntry() error {
	m.count++
	if m.budget.Entries > 0 && m.count > m.budget.Entries {
		return tooLarge("more than %d entries", m.budget.Entries)
	}
	return nil
}

// storedOwner is how the store owns an image's id: root stays root, any
// other id in 1..2^24-1 moves up by ImageIDShift, and anything else is the
// shifted nobody.
func storedOwner(id int) int {
	if id == 0 {
		return 0
	}
	if id < 1 || id >= 1<<24 {
		return 3_000_000_000 + 65534
	}
	return 3_000_000_000 + id
}

// storedPerm is an entry's permission bits in the store: no set-id bits, no
// write for group and others, the sticky bit kept.
func storedPerm(mode int64) uint32 {
	return uint32(mode) & 0o7777 &^ (0o6000 | 0o022)
}

// splitName cleans an archive name into its path, or refuses it.
func splitName(name string) (string, error) {
	if len(name) > 0 && name[0] == '/' {
		return "", hostile("absolute %q", name)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", hostile("NUL in %q", name)
	}
	if len(name) > 3072 {
		return "", hostile("name of %d bytes", len(name))
	}
	var parts []string
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", hostile("%q climbs", name)
		}
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	if len(parts) > 256 {
		return "", hostile("%q is %d deep", name, len(parts))
	}
	return strings.Join(parts, "/"), nil
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func baseOf(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// tooLong says whether a component is past the kernel's NAME_MAX.
func tooLong(name string) bool { return len(name) > 255 }

// walkDir makes sure directory p exists, making missing directories
// (0755, root's) as the applier does, each counted as an entry. A
// component that is a symlink is hostile; any other non-directory fails.
func (m *model) walkDir(p string) error {
	if p == "" {
		return nil
	}
	walked := ""
	for _, c := range strings.Split(p, "/") {
		walked = path.Join(walked, c)
		if tooLong(c) {
			return fmt.Errorf("opening %s: name too long", walked)
		}
		n, ok := m.nodes[walked]
		switch {
		case !ok:
			if err := m.countEntry(); err != nil {
				return err
			}
			m.nodes[walked] = &inode{typ: 'd', perm: 0o755}
		case n.typ == 'l':
			return hostile("%s is a symlink", walked)
		case n.typ != 'd':
			return fmt.Errorf("opening %s: not a directory", walked)
		}
	}
	return nil
}

// remove removes p and everything below it.
func (m *model) remove(p string) {
	delete(m.nodes, p)
	for q := range m.nodes {
		if strings.HasPrefix(q, p+"/") {
			delete(m.nodes, q)
		}
	}
}

// children lists the names in directory p.
func (m *model) children(p string) []string {
	var out []string
	for q := range m.nodes {
		if parentOf(q) == p {
			out = append(out, baseOf(q))
		}
	}
	slices.Sort(out)
	return out
}

// apply applies one layer, as its own tar reader reads it.
func (m *model) apply(layer []byte) error {
	m.added, m.opaqued = map[string]bool{}, map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		if err := m.countEntry(); err != nil {
			return err
		}
		if err := m.entry(hdr, tr); err != nil {
			return err
		}
	}
}

func (m *model) entry(hdr *tar.Header, body io.Reader) error {
	name, err := splitName(hdr.Name)
	if err != nil || name == "" {
		return err
	}
	parent, base := parentOf(name), baseOf(name)
	if base == ".wh..wh..opq" {
		return m.opaque(parent)
	}
	if target, ok := strings.CutPrefix(base, ".wh."); ok {
		if target == "" || target == "." || target == ".." {
			return hostile("whiteout %q", hdr.Name)
		}
		if err := m.walkDir(parent); err != nil {
			return err
		}
		if tooLong(target) {
			return fmt.Errorf("removing %s: name too long", target)
		}
		m.remove(path.Join(parent, target))
		return nil
	}
	if err := m.walkDir(parent); err != nil {
		return err
	}
	// The entry and the directories above it are this layer's; a
	// directory already recorded has its parents recorded too.
	m.added[name] = hdr.Typeflag == tar.TypeDir
	for p := parentOf(name); p != "" && !m.added[p]; p = parentOf(p) {
		m.added[p] = true
	}
	meta := inode{perm: storedPerm(hdr.Mode), uid: storedOwner(hdr.Uid), gid: storedOwner(hdr.Gid), mtime: hdr.ModTime, hasMtime: true}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if tooLong(base) {
			return fmt.Errorf("%s: name too long", name)
		}
		if n, ok := m.nodes[name]; !ok || n.typ != 'd' {
			m.remove(name)
		}
		meta.typ, meta.hasMtime = 'd', false
		m.nodes[name] = &meta
	case tar.TypeReg, tar.TypeGNUSparse:
		if hdr.Size < 0 {
			return hostile("size %d", hdr.Size)
		}
		m.bytes += hdr.Size
		if m.budget.Bytes > 0 && m.bytes > m.budget.Bytes {
			return tooLarge("more than %d bytes", m.budget.Bytes)
		}
		if tooLong(base) {
			return fmt.Errorf("%s: name too long", name)
		}
		m.remove(name)
		data, err := io.ReadAll(body)
		if err != nil || int64(len(data)) != hdr.Size {
			m.uncertain = true // a part of the file may be written
			return fmt.Errorf("reading %s: %v", name, err)
		}
		meta.typ, meta.data = 'f', string(data)
		m.nodes[name] = &meta
	case tar.TypeSymlink:
		if hdr.Linkname == "" || len(hdr.Linkname) > 4095 || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return hostile("symlink target %q", hdr.Linkname)
		}
		if tooLong(base) {
			return fmt.Errorf("%s: name too long", name)
		}
		m.remove(name)
		meta.typ, meta.target, meta.perm = 'l', hdr.Linkname, 0o777
		m.nodes[name] = &meta
	case tar.TypeLink:
		return m.hardlink(name, hdr.Linkname)
	case tar.TypeFifo:
		if tooLong(base) {
			return fmt.Errorf("%s: name too long", name)
		}
		m.remove(name)
		meta.typ = 'p'
		m.nodes[name] = &meta
	case tar.TypeChar, tar.TypeBlock:
		// Left out in /dev, which the sandbox replaces; refused elsewhere.
		if parent != "dev" && !strings.HasPrefix(parent, "dev/") {
			return hostile("device %s", name)
		}
	case tar.TypeXGlobalHeader:
	default:
		return hostile("type %q", hdr.Typeflag)
	}
	return nil
}

func (m *model) hardlink(name, linkname string) error {
	target, err := splitName(linkname)
	if err != nil {
		return err
	}
	if target == "" {
		return hostile("hard link to the root")
	}
	if target == name {
		return nil
	}
	if err := m.walkDir(parentOf(target)); err != nil {
		return err
	}
	n, ok := m.nodes[target]
	if !ok || tooLong(baseOf(target)) {
		return hostile("hard link to missing %s", target)
	}
	if n.typ == 'd' {
		return hostile("hard link to directory %s", target)
	}
	if tooLong(baseOf(name)) {
		return fmt.Errorf("%s: name too long", name)
	}
	m.remove(name)
	// Removing name removes the target too when it is below name.
	if m.nodes[target] == nil {
		return fmt.Errorf("hard link %s: %s is gone", name, target)
	}
	m.nodes[name] = n
	return nil
}

// opaque removes what lower layers put in directory p, once per layer.
func (m *model) opaque(p string) error {
	if m.opaqued[p] {
		return nil
	}
	m.opaqued[p] = true
	if err := m.walkDir(p); err != nil {
		return err
	}
	return m.removeLower(p)
}

func (m *model) removeLower(p string) error {
	names := m.children(p)
	m.count += int64(len(names))
	if m.budget.Entries > 0 && m.count > m.budget.Entries {
		// The applier may have removed some of these, in its order.
		m.uncertain = true
		return tooLarge("more than %d entries", m.budget.Entries)
	}
	for _, c := range names {
		q := path.Join(p, c)
		isDir, added := m.added[q]
		switch {
		case !added:
			m.remove(q)
		case isDir && m.nodes[q].typ == 'd':
			if err := m.removeLower(q); err != nil {
				return err
			}
		}
	}
	return nil
}

// compare returns how the tree differs from the model, or "".
func (m *model) compare(t *testing.T, tree string) string {
	var diffs []string
	seen := map[string]bool{}
	inodes := map[uint64]*inode{} // the tree's inode numbers to the model's
	err := filepath.WalkDir(tree, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		if rel == "." {
			return nil
		}
		seen[rel] = true
		want, ok := m.nodes[rel]
		if !ok {
			diffs = append(diffs, "unexpected: "+rel)
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		got := inode{perm: st.Mode & 0o7777, uid: int(st.Uid), gid: int(st.Gid)}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			got.typ = 'd'
		case syscall.S_IFREG:
			got.typ = 'f'
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got.data = string(data)
		case syscall.S_IFLNK:
			got.typ = 'l'
			if got.target, err = os.Readlink(p); err != nil {
				return err
			}
		case syscall.S_IFIFO:
			got.typ = 'p'
		default:
			got.typ = '?'
		}
		if got.typ != want.typ || got.perm != want.perm || got.uid != want.uid || got.gid != want.gid ||
			got.data != want.data || got.target != want.target {
			diffs = append(diffs, fmt.Sprintf("%s: got %c %o %d:%d %q->%q, want %c %o %d:%d %q->%q", rel,
				got.typ, got.perm, got.uid, got.gid, got.data, got.target,
				want.typ, want.perm, want.uid, want.gid, want.data, want.target))
		}
		// The file systems the tests run on hold these times exactly.
		if want.hasMtime && want.mtime.Unix() >= 0 && want.mtime.Unix() < 1<<32 {
			if mt := time.Unix(st.Mtim.Unix()); !mt.Equal(want.mtime) {
				diffs = append(diffs, fmt.Sprintf("%s: modified %v, want %v", rel, mt, want.mtime))
			}
		}
		if got.typ != 'd' {
			if prev, ok := inodes[st.Ino]; ok && prev != want {
				diffs = append(diffs, fmt.Sprintf("%s: a hard link to a file it should not share", rel))
			}
			inodes[st.Ino] = want
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Paths the model shares an inode between must share one in the tree.
	byInode := map[*inode]uint64{}
	for rel, n := range m.nodes {
		if !seen[rel] {
			diffs = append(diffs, "missing: "+rel)
			continue
		}
		if n.typ == 'd' {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(tree, rel), &st); err != nil {
			t.Fatal(err)
		}
		if ino, ok := byInode[n]; ok && ino != st.Ino {
			diffs = append(diffs, fmt.Sprintf("%s: not a hard link of the file it should share", rel))
		}
		byInode[n] = st.Ino
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "\n")
}

// The generator of FuzzApplyLayers.

// genCommon are the path components generated names are mostly made of:
// few, so that entries meet. genSpecial are the rarer ones: the format's
// special names, ones the applier refuses, one past NAME_MAX.
var (
	genCommon  = []string{"a", "b", "c", "dev"}
	genSpecial = []string{".", "..", "", ".wh.a", ".wh..wh..opq", ".wh.", ".wh.b", "x" + strings.Repeat("y", 255)}
)

// genTargets are link targets beside generated names: ways out of the tree
// (the sentinels are ../outside, with the generated names a and b/c in it,
// ../sibling and ../link-out from the tree's root), absolute ones (inside the test's directory), the root, the
// empty one, one too long.
var genTargets = []string{"../outside", "../outside/a", "../link-out", "../sibling", "../../x", baseToken + "/outside",
	baseToken + "/outside/a", baseToken + "/tree/a", ".", "", strings.Repeat("t", 4096)}

var (
	genModes = []int64{0o755, 0o644, 0o4777, 0o1777, 0, 0o2775, 0o666, 0o100644}
	genIDs   = []int{0, 1000, 65534, 1<<24 - 1, 1 << 24, 7}
	genTimes = []int64{1700000000, 0, 1, 1700000000_123456789}
)

// byteStream hands out the bytes of ops, then zeros.
type byteStream struct{ b []byte }

func (s *byteStream) next() int {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return int(c)
}

func (s *byteStream) pick(n int) int { return s.next() % n }

// name is a generated archive name: mostly one to three common components,
// now and then a special one, an absolute name or the root.
func (s *byteStream) name() string {
	switch s.next() {
	case 255:
		return "."
	case 254:
		return baseToken + "/outside/pwned"
	case 253:
		return baseToken + "/tree/a/b"
	}
	depth := 1 + s.pick(3)
	parts := make([]string, depth)
	for i := range parts {
		if c := s.next(); c < 224 {
			parts[i] = genCommon[c%len(genCommon)]
		} else {
			parts[i] = genSpecial[c%len(genSpecial)]
		}
	}
	name := strings.Join(parts, "/")
	if s.pick(4) == 0 {
		name += "/"
	}
	return name
}

// target is a generated link target: mostly a name, now and then a special
// one.
func (s *byteStream) target() string {
	if c := s.next(); c >= 192 {
		return genTargets[c%len(genTargets)]
	}
	return s.name()
}

// genLayers turns ops into layers: each op's first byte chooses an entry
// type (or the start of the next layer), the following bytes its name,
// link target, mode, owner, time and contents. baseToken becomes base, the
// parent of the tree.
func genLayers(ops []byte, base string) [][]byte {
	s := &byteStream{b: ops}
	if len(ops) > 0 {
		s.next() // the budget's byte
	}
	var layers [][]byte
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	flush := func() {
		tw.Close()
		layers = append(layers, bytes.Clone(buf.Bytes()))
		buf.Reset()
		tw = tar.NewWriter(&buf)
	}
	sub := func(p string) string { return strings.ReplaceAll(p, baseToken, base) }
	for entries := 0; len(s.b) > 0 && entries < 64 && len(layers) < 6; entries++ {
		op := s.pick(16)
		if op == 0 {
			flush()
			continue
		}
		hdr := &tar.Header{Name: sub(s.name()), Mode: genModes[s.pick(len(genModes))],
			Uid: genIDs[s.pick(len(genIDs))], Gid: genIDs[s.pick(len(genIDs))]}
		if t := genTimes[s.pick(len(genTimes))]; t > 1<<40 {
			hdr.ModTime = time.Unix(0, t)
		} else {
			hdr.ModTime = time.Unix(t, 0)
		}
		if s.pick(2) == 0 {
			hdr.Format = tar.FormatPAX // sub-second times, long names
		}
		var body string
		switch op {
		case 1, 2, 3:
			hdr.Typeflag = tar.TypeDir
		case 4, 5, 6:
			hdr.Typeflag = tar.TypeReg
			body = strings.Repeat(string(rune('p'+s.pick(8))), s.pick(24))
		case 7, 8:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, sub(s.target())
		case 9, 10:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, sub(s.target())
		case 11:
			hdr.Typeflag = tar.TypeReg
			hdr.Name = path.Join(path.Dir(hdr.Name), ".wh."+path.Base(hdr.Name))
		case 12:
			hdr.Typeflag = tar.TypeReg
			hdr.Name = path.Join(hdr.Name, ".wh..wh..opq")
		case 13:
			hdr.Typeflag = tar.TypeFifo
		case 14:
			hdr.Typeflag = []byte{tar.TypeChar, tar.TypeBlock}[s.pick(2)]
			hdr.Devmajor, hdr.Devminor = 1, 3
		default:
			hdr.Typeflag = []byte{tar.TypeCont, 'Z', tar.TypeXGlobalHeader, '\x00'}[s.pick(4)] // '\x00': an old regular file
		}
		hdr.Size = int64(len(body))
		if tw.WriteHeader(hdr) != nil {
			// Headers tar cannot write (a global header with these
			// fields...) are left out; the writer is still usable.
			continue
		}
		if body != "" {
			tw.Write([]byte(body))
		}
	}
	flush()
	return layers
}
