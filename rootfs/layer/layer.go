// Package layer is atod's hardened extractor: it applies image layers (tar
// archives, uncompressed) onto a directory tree, bottom layer first, the way
// a container runtime's snapshotter does (containerd's archive.Apply): each
// whiteout removes what lower layers put there, each opaque directory
// empties its lower contents, and a hard link may point at a file of any
// lower layer. go-containerregistry's mutate.Extract flattens top-down into
// one stream instead, which cannot express an opaque directory's lower
// contents or a hard link to a lower layer's file, so it is not used.
//
// Archives are untrusted. Every path is resolved one component at a time
// from the tree's root with O_NOFOLLOW, so nothing is ever created or
// removed through a symbolic link and nothing outside the tree is reached;
// an entry that would need that is refused (ErrHostile), as are absolute
// paths, "..", device nodes outside /dev (those in /dev are left out: the
// store never holds a device node) and archives beyond a size budget
// (ErrTooLarge). Nothing is ever followed: symlinks are created as they are,
// pointing wherever they like, because only the sandbox ever resolves them,
// inside the run's root.
//
// Owners and modes are stored as the image store keeps them (ImageIDShift);
// Normalize gives a tree made some other way (a Debian build) the same.
//
//	a, err := layer.Open(ctx, tree, layer.Options{Budget: budget})
//	defer a.Close()
//	err = a.Apply(tarStream) // once per layer, bottom first
//
// Decompression, digests and where layers come from are the caller's
// (package rootfs/install).
package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
)

// whiteout prefixes of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// Limits of a well-formed archive path: every path the store holds stays
// well below PATH_MAX (so that path-based tools and the kernel can reach
// it), and its depth bounds the directories one entry can make.
const (
	maxNameBytes  = 3072
	maxNameDepth  = 256
	maxLinkTarget = 4095
)

// Owners in the store. The trees are reachable by every host user (runs
// have unprivileged host uids), so no host user may own anything in them,
// or could write to it: an image's uid or gid N other than 0 is stored as
// ImageIDShift+N, an id no account has, and group and other write bits are
// dropped. Runs lose nothing: a run sees every owner but its own as nobody,
// and its root filesystem is read-only. Ids past maxImageID are stored as
// the shifted nobody (65534).
const (
	ImageIDShift = 3_000_000_000
	maxImageID   = 1<<24 - 1
)

// storedID is how image id is owned in the store.
func storedID(id int) int {
	switch {
	case id == 0:
		return 0
	case id < 0 || id > maxImageID:
		return ImageIDShift + 65534
	}
	return ImageIDShift + id
}

// ErrHostile is wrapped by errors about archives no well-formed image has:
// paths leaving the tree, device nodes, links through symlinks.
var ErrHostile = errors.New("refusing archive")

// ErrTooLarge is wrapped when an image's files pass the store's size budget.
var ErrTooLarge = errors.New("image too large")

// Budget bounds what one image may write into the store, whatever its
// archives claim: a decompression bomb stops at the budget.
type Budget struct {
	Bytes   int64 // file contents, all layers together
	Entries int64 // archive entries, all layers together
}

// DefaultBudget fits the largest language images (a TeX Live or a GHC tree
// is a few GiB) with room to spare.
var DefaultBudget = Budget{Bytes: 32 << 30, Entries: 4 << 20}

// WithDefaults is b with DefaultBudget's bounds where b has none.
func (b Budget) WithDefaults() Budget {
	if b.Bytes <= 0 {
		b.Bytes = DefaultBudget.Bytes
	}
	if b.Entries <= 0 {
		b.Entries = DefaultBudget.Entries
	}
	return b
}

// Options say how an Applier applies layers.
type Options struct {
	// Budget bounds what all the layers applied together may write;
	// DefaultBudget's bounds where zero.
	Budget Budget
}

// cleanName turns an archive path into its components, refusing any path
// that is absolute or climbs with "..". "./a//b/" is "a/b"; the root is "".
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path %q", ErrHostile, name)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: path %q holds a NUL byte", ErrHostile, name)
	}
	if len(name) > maxNameBytes {
		return "", fmt.Errorf("%w: path %.40q... is longer than %d bytes", ErrHostile, name, maxNameBytes)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", fmt.Errorf("%w: path %q has a .. that climbs out of the tree", ErrHostile, name)
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) > maxNameDepth {
		return "", fmt.Errorf("%w: path %.40q... is more than %d directories deep", ErrHostile, name, maxNameDepth)
	}
	return strings.Join(parts, "/"), nil
}

// fileMode is the permission bits of an entry. Set-id bits are dropped:
// runs have no_new_privs, so they could never take effect, and the store
// should hold no set-id file a host user might reach. Group and other write
// bits are dropped too (see ImageIDShift): runs mount the tree read-only.
func fileMode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o1755
}

func dirOf(rel string) string {
	d := path.Dir(rel)
	if d == "." {
		return ""
	}
	return d
}
