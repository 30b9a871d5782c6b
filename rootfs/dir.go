package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNotFound is wrapped by lookups of an image the store does not hold, or
// holds only an unfinished build of. The error's text says how to build it.
var ErrNotFound = errors.New("image not found")

// ErrInvalidName is wrapped by lookups of a name no image can have. Such
// errors wrap ErrNotFound too.
var ErrInvalidName = errors.New("invalid image name")

// Image is a root filesystem ready to run in.
type Image struct {
	Name string
	// Path is the host directory of the tree (the rootfs itself).
	Path string
	// Env is the environment a run in this image starts with, as KEY=value.
	Env []string
}

// Store finds images by name.
type Store interface {
	Lookup(name string) (Image, error)
}

// Dir is a Store of images kept in a directory on the host, laid out as the
// package documentation describes. It holds no state beyond its root, so it
// sees images installed or removed after it was opened.
type Dir struct {
	root string // absolute, clean
}

var _ Store = (*Dir)(nil)

const (
	manifestFile = "image.json"
	treeDir      = "rootfs"
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
	return &Dir{root: abs}, nil
}

// Root returns the absolute directory the store keeps its images in.
func (d *Dir) Root() string { return d.root }

// Lookup returns the image called name. It costs a stat and the read of a
// small JSON file, so it may be called for every run; callers that keep the
// Image will not notice an image rebuilt since.
func (d *Dir) Lookup(name string) (img Image, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("looking up image %q in %s: %w", name, d.root, err)
		}
	}()
	if err := CheckName(name); err != nil {
		return Image{}, fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	dir := filepath.Join(d.root, name)
	m, err := readManifest(filepath.Join(dir, manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			return Image{}, fmt.Errorf("%w: %s has no %s, so its build never finished; %s",
				ErrNotFound, dir, manifestFile, buildHint(name))
		}
		return Image{}, fmt.Errorf("%w; %s", ErrNotFound, buildHint(name))
	}
	if err != nil {
		return Image{}, err
	}
	if m.Name != name {
		return Image{}, fmt.Errorf("%s names image %q; rebuild it", manifestFile, m.Name)
	}
	tree := filepath.Join(dir, treeDir)
	info, err := os.Stat(tree)
	if err != nil || !info.IsDir() {
		return Image{}, fmt.Errorf("%w: %s is not a directory; %s", ErrNotFound, tree, buildHint(name))
	}
	return Image{Name: name, Path: tree, Env: m.Env}, nil
}

// List returns every complete image in the store, sorted by name. Unfinished
// builds and entries whose names cannot be images are left out; an image
// whose image.json is damaged is an error.
func (d *Dir) List() (imgs []Image, err error) {
	dirents, err := os.ReadDir(d.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing images in %s: %w", d.root, err)
	}
	for _, e := range dirents { // sorted by name
		if !e.IsDir() || CheckName(e.Name()) != nil {
			continue
		}
		img, err := d.Lookup(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing images: %w", err)
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// buildHint tells operators how to get an image into the store.
func buildHint(name string) string {
	return fmt.Sprintf("build it from rootfs/recipes/%s with scripts/build-rootfs %s "+
		"(it writes to $ATOD_IMAGES, default /var/lib/atod/images)", name, name)
}

// CheckName reports whether name can name an image: [a-z0-9][a-z0-9._-]*, at
// most 255 bytes. Such a name is a single path element that is neither "."
// nor ".." nor a dot file, so it cannot leave the store's root.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > 255 {
		return fmt.Errorf("%w %.20q...: longer than 255 bytes", ErrInvalidName, name)
	}
	for i, r := range name {
		lowerOrDigit := 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
		if !lowerOrDigit && (i == 0 || !strings.ContainsRune("._-", r)) {
			return fmt.Errorf("%w %q: use [a-z0-9][a-z0-9._-]*", ErrInvalidName, name)
		}
	}
	return nil
}

// manifest is image.json. Fields atod does not read are listed so that the
// format is documented in one place.
type manifest struct {
	Name       string   `json:"name"`
	Env        []string `json:"env"`
	RecipeHash string   `json:"recipe_hash"` // what it was built from; for rebuilds
	Created    string   `json:"created"`     // RFC 3339; for operators
}

func readManifest(path string) (*manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, maxManifestBytes)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w; rebuild the image", path, err)
	}
	if i := slices.IndexFunc(m.Env, badEnv); i >= 0 {
		return nil, fmt.Errorf("decoding %s: env entry %q is not KEY=value; rebuild the image", path, m.Env[i])
	}
	return &m, nil
}

func badEnv(kv string) bool {
	k, _, ok := strings.Cut(kv, "=")
	return !ok || k == "" || strings.ContainsRune(kv, 0)
}
