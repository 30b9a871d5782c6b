package install

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/layer"
)

// Import installs an image from a Docker save tarball (FILE), an OCI image
// layout (DIR) or an OCI layout in a tar file (an oci-archive) as image
// name, with the store's writer w. tag picks an image from a tarball or layout holding several ("" for
// the only one).
func Import(ctx context.Context, w *rootfs.Writer, path, tag, name string, opts Options) (inst rootfs.Installed, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("importing %s: %w", path, err)
		}
	}()
	info, err := os.Stat(path)
	if err != nil {
		return inst, err
	}
	var img v1.Image
	switch {
	case info.IsDir():
		img, err = openLayout(path, tag, opts.platform())
	case isOCIArchive(path):
		// go-containerregistry reads layouts from directories only: the
		// archive's blobs are unpacked into the work area first.
		dir, werr := w.WorkDir("oci-archive")
		if werr != nil {
			return inst, werr
		}
		defer w.Discard(dir)
		if err = unpackOCIArchive(ctx, path, dir); err == nil {
			img, err = openLayout(dir, tag, opts.platform())
		}
	default:
		img, err = openDockerSave(path, tag)
	}
	if err != nil {
		return inst, err
	}
	abs, _ := filepath.Abs(path)
	return installImage(ctx, w, name, origin{image: img, source: "import " + abs}, opts)
}

func openDockerSave(path, tag string) (v1.Image, error) {
	var t *name.Tag
	if tag != "" {
		tt, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", tag, err)
		}
		t = &tt
	}
	img, err := tarball.ImageFromPath(path, t)
	if err != nil {
		return nil, fmt.Errorf("reading it as a docker save tarball: %w", err)
	}
	return img, nil
}

func openLayout(dir, tag string, platform v1.Platform) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading it as an OCI image layout: %w", err)
	}
	return pickImage(idx, tag, platform)
}

// isOCIArchive reports whether the tar file at path is an OCI layout (it has
// an oci-layout file) rather than a docker save tarball (manifest.json),
// which newer Dockers write with a layout inside too.
func isOCIArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	layoutFile, manifest := false, false
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if err != nil {
			return layoutFile && !manifest
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "oci-layout":
			layoutFile = true
		case "manifest.json":
			manifest = true
		}
	}
}

// unpackOCIArchive copies the files of an OCI layout in a tar file into dir:
// oci-layout, index.json and blobs/ALG/HEX, nothing else, each a new
// regular file (the archive is untrusted).
func unpackOCIArchive(ctx context.Context, path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		rel := strings.TrimPrefix(hdr.Name, "./")
		parts := strings.Split(rel, "/")
		switch {
		case hdr.Typeflag == tar.TypeDir:
			continue
		case hdr.Typeflag != tar.TypeReg: // the reader turns the old TypeRegA into TypeReg
			return fmt.Errorf("%w: %s in an OCI layout is not a regular file", layer.ErrHostile, hdr.Name)
		case rel == "oci-layout" || rel == "index.json":
		case len(parts) == 3 && parts[0] == "blobs" && validBlobPart(parts[1]) && validBlobPart(parts[2]):
			if err := os.MkdirAll(filepath.Join(dir, "blobs", parts[1]), 0o700); err != nil {
				return err
			}
		default:
			continue // anything else is no part of the layout
		}
		out, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(rel)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", hdr.Name, layer.NoSpaceHint(err))
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", hdr.Name, layer.NoSpaceHint(err))
		}
	}
}

// validBlobPart reports whether s can be an algorithm or digest in a blob's
// path: lowercase letters and digits only.
func validBlobPart(s string) bool {
	return s != "" && len(s) <= 128 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// pickImage finds in an index the image for platform, or the one tagged tag
// (the org.opencontainers.image.ref.name annotation), descending into
// nested indexes.
func pickImage(idx v1.ImageIndex, tag string, platform v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var candidates []v1.Descriptor
	for _, d := range im.Manifests {
		if tag != "" && d.Annotations["org.opencontainers.image.ref.name"] != tag &&
			d.Annotations["io.containerd.image.name"] != tag {
			continue
		}
		if d.Platform != nil && !d.Platform.Satisfies(platform) {
			continue
		}
		candidates = append(candidates, d)
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("it holds no image for %s%s", platform.String(), tagSuffix(tag))
	}
	if len(candidates) > 1 && tag == "" {
		return nil, errors.New("it holds several images: pick one with --tag")
	}
	d := candidates[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return pickImage(child, "", platform)
	}
	return idx.Image(d.Digest)
}

func tagSuffix(tag string) string {
	if tag == "" {
		return ""
	}
	return " tagged " + tag
}
