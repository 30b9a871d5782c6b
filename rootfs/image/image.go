// Package image holds what a run gets of an installed image: the Image (its
// tree's path, environment and user), the Lease that keeps the tree while
// the run uses it, ErrNotFound for an image the store lacks, and the rule
// for image names. It is pure data, with no store, registry or Linux
// dependency, so that front ends (package server) build on any platform;
// package rootfs is the store that hands these out.
package image

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is wrapped by lookups of an image the store does not hold. The
// error's text says how to get it.
var ErrNotFound = errors.New("image not found")

// ErrInvalidName is wrapped by lookups of a name no image can have. Such
// errors wrap ErrNotFound too.
var ErrInvalidName = errors.New("invalid image name")

// Image is a root filesystem ready to run in.
type Image struct {
	Name string
	// ID names the tree: the image's config digest for pulled and imported
	// images (the same image pulled twice is one tree), a digest of the
	// recipe and build for built ones. Hex, without "sha256:".
	ID string
	// Path is the host directory of the tree (the rootfs itself). It names
	// the tree, not the name, so a run keeps its tree when the name moves.
	Path string
	// Env is the environment a run in this image starts with, as KEY=value.
	Env []string
	// WorkingDir is the image's configured working directory, kept for
	// runners: the runner contract fixes the run's own at /ATO/context.
	WorkingDir string
	// UID and GID are the identity runs in this image have inside the
	// sandbox: the image's configured User, resolved against its own
	// /etc/passwd and /etc/group when it pulled, or 0.
	UID, GID uint32
	// Versions are the versions of the languages a built image holds,
	// by language id, as its recipe's version commands printed them when
	// it was built (nil for pulled and imported images).
	Versions map[string]string
}

// Lease is an image held for a run: the store does not collect its tree,
// even if its name is removed or moved to another tree, until Release.
type Lease struct {
	Image
	release func() // nil once released, or for an image held by nothing
}

// NewLease returns a lease of img that calls release once, on the first
// Release. A store makes leases; a nil release makes one that holds
// nothing (a fake store's, say).
func NewLease(img Image, release func()) *Lease {
	return &Lease{Image: img, release: release}
}

// Release lets the tree be collected once no other lease holds it. Calling
// it again, or on a nil lease, does nothing.
func (l *Lease) Release() {
	if l == nil || l.release == nil {
		return
	}
	release := l.release
	l.release = nil
	release()
}

// maxNameLen leaves room in a file name (255 bytes) for the temporary link
// ".NAME.new" that renaming goes through.
const maxNameLen = 250

// CheckName reports whether name can name an image: [a-z0-9][a-z0-9._-]*, at
// most 250 bytes. Such a name is a single path element that is neither "."
// nor ".." nor a dot file, so it cannot leave the store's root.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w %.20q...: longer than %d bytes", ErrInvalidName, name, maxNameLen)
	}
	for i, r := range name {
		lowerOrDigit := 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
		if !lowerOrDigit && (i == 0 || !strings.ContainsRune("._-", r)) {
			return fmt.Errorf("%w %q: use [a-z0-9][a-z0-9._-]*", ErrInvalidName, name)
		}
	}
	return nil
}
