package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ownerFile holds the store's Owner ({"uid": N, "gid": N}); without it the
// owner is root.
const ownerFile = "owner"

// Owner is the host user a store keeps its images for: the files an image
// gives its root are stored as Owner's, as are the trees' lease files. A
// root daemon's store is root's (idmapped for each run, see sandbox). A
// rootless daemon can neither idmap nor read root's lease files, and sees
// only its own files as root's in its user namespace: its store is its
// own user's, so that its runs own their image as root, and it holds its
// runs' trees. The store's own directories (names/, trees/, .work/) and
// everything else an image holds stay root's and shifted (layer.ImageIDShift):
// the owner can change its images' root files, as root of its runs may in
// their overlays, but not which image a name points at.
type Owner struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// IsRoot reports whether o is root's: the store keeps images as they are.
func (o Owner) IsRoot() bool { return o.UID == 0 && o.GID == 0 }

func (o Owner) String() string { return fmt.Sprintf("%d:%d", o.UID, o.GID) }

// Owner returns the user the store keeps its images for (root unless set
// with Writer.SetOwner).
func (d *Dir) Owner() (Owner, error) {
	data, err := os.ReadFile(filepath.Join(d.root, ownerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Owner{}, nil
	}
	if err != nil {
		return Owner{}, fmt.Errorf("reading the image store's owner: %w", err)
	}
	var o Owner
	if err := json.Unmarshal(data, &o); err != nil || o.UID < 0 || o.GID < 0 || o.UID >= maxID || o.GID >= maxID {
		return Owner{}, fmt.Errorf("reading the image store's owner: %s is not {\"uid\": N, \"gid\": N}", filepath.Join(d.root, ownerFile))
	}
	return o, nil
}

// maxID bounds a uid or gid: 2^32-1 is no id (it means "unchanged" to
// chown).
const maxID = 1<<32 - 1
