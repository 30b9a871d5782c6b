package rootfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// Progress reports how an install goes: called as each layer starts, as its
// bytes arrive (at most every few hundred KiB) and when it ends.
type Progress func(Update)

// Update is one report of Progress.
type Update struct {
	Layer, Layers int    // 1-based index of the layer, and how many there are
	Digest        string // of the layer
	Done, Total   int64  // bytes read of the layer, and its (compressed) size; Total may be 0
	Finished      bool   // the layer is applied
}

// InstallOptions say how an image is installed.
type InstallOptions struct {
	Budget   Budget   // DefaultBudget where zero
	Progress Progress // may be nil
	// Platform picks an image from a multi-platform index; the host's
	// (linux and runtime.GOARCH) where zero.
	Platform *v1.Platform
	// Insecure lets Pull talk to a registry over plain HTTP (a registry on
	// loopback always may).
	Insecure bool
}

func (o *InstallOptions) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

func (o *InstallOptions) budget() Budget {
	b := o.Budget
	if b.Bytes == 0 {
		b.Bytes = DefaultBudget.Bytes
	}
	if b.Entries == 0 {
		b.Entries = DefaultBudget.Entries
	}
	return b
}

// Installed says what an install did.
type Installed struct {
	Name, ID, Digest string
	Previous         string // the tree the name pointed at before, if another
	Reused           bool   // the store held the tree already: nothing was downloaded
	Collected        Collected
	CollectErr       error // collecting the previous tree failed (atod rootfs gc retries)
}

// Pull installs the image ref names from its registry as image name. Registry
// credentials come from the Docker config (~/.docker/config.json, or
// $DOCKER_CONFIG) when there is one; the registry's own errors are reported
// with what to do about them.
func (w *Writer) Pull(ctx context.Context, ref, name string, opts InstallOptions) (Installed, error) {
	r, err := parseRef(ref, opts.Insecure)
	if err != nil {
		return Installed{}, err
	}
	img, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(opts.platform()))
	if err != nil {
		return Installed{}, fmt.Errorf("pulling %s: %w", ref, registryHint(err))
	}
	inst, err := w.InstallImage(ctx, img, name, "pull "+r.Name(), true, opts)
	if err != nil {
		return inst, fmt.Errorf("pulling %s: %w", ref, registryHint(err))
	}
	return inst, nil
}

// parseRef parses an image reference strictly: the registry must be named
// (no Docker Hub default), since atod has no default registry.
func parseRef(ref string, insecure bool) (name.Reference, error) {
	nameOpts := []name.Option{name.StrictValidation}
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		// Try again leniently only to tell a missing registry apart.
		if _, lerr := name.ParseReference(ref); lerr == nil {
			return nil, fmt.Errorf("image reference %q names no registry or tag: write it in full, REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST", ref)
		}
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if first, _, _ := strings.Cut(ref, "/"); !strings.ContainsAny(first, ".:") && first != "localhost" {
		return nil, fmt.Errorf("image reference %q names no registry: write it as REGISTRY/REPOSITORY:TAG", ref)
	}
	return r, nil
}

// registryHint explains the registry errors operators meet.
func registryHint(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	switch {
	case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
		return fmt.Errorf("the registry refused access (%w); log in with `docker login REGISTRY` or put credentials in $DOCKER_CONFIG/config.json", err)
	case terr.StatusCode == http.StatusNotFound || slices.ContainsFunc(terr.Errors, func(d transport.Diagnostic) bool {
		return d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode
	}):
		return fmt.Errorf("unknown image: the registry has no such repository or tag (%w)", err)
	case terr.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("the registry is rate-limiting this host (%w); try again later", err)
	}
	return err
}

// Import installs an image from a Docker save tarball (FILE), an OCI image
// layout (DIR) or an OCI layout in a tar file (an oci-archive) as image
// name. tag picks an image from a tarball or layout holding several ("" for
// the only one).
func (w *Writer) Import(ctx context.Context, path, tag, name string, opts InstallOptions) (inst Installed, err error) {
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
	return w.InstallImage(ctx, img, name, "import "+abs, false, opts)
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
			return fmt.Errorf("%w: %s in an OCI layout is not a regular file", ErrHostile, hdr.Name)
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
			return fmt.Errorf("unpacking %s: %w", hdr.Name, noSpaceHint(err))
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", hdr.Name, noSpaceHint(err))
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

// Bounds of what an image's manifest and config may hold.
const (
	maxConfigBytes  = 8 << 20
	maxLayers       = 256
	maxConfigValues = 256 << 10 // Env, WorkingDir and User: they go into image.json
)

// InstallImage writes img's layers into a new tree and installs it as image
// name. The tree's id is the image's config digest: an image the store
// holds already is only renamed. remote says whether layers come over the
// network (read compressed, for progress in transferred bytes) or from a
// local file. Whatever fails, nothing of the new tree stays behind.
func (w *Writer) InstallImage(ctx context.Context, img v1.Image, name, source string, remote bool, opts InstallOptions) (inst Installed, err error) {
	inst.Name = name
	if err := CheckName(name); err != nil {
		return inst, err
	}
	// A registry is untrusted too: bound what is read into memory before
	// reading it.
	m, err := img.Manifest()
	if err != nil {
		return inst, fmt.Errorf("reading image manifest: %w", err)
	}
	if m.Config.Size > maxConfigBytes {
		return inst, fmt.Errorf("%w: its config is %d bytes, more than %d", ErrHostile, m.Config.Size, maxConfigBytes)
	}
	if len(m.Layers) > maxLayers {
		return inst, fmt.Errorf("%w: it has %d layers, more than %d", ErrHostile, len(m.Layers), maxLayers)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return inst, fmt.Errorf("reading image config: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return inst, fmt.Errorf("reading image config: %w", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return inst, fmt.Errorf("it is a %s image; atod runs linux images", cfg.OS)
	}
	if digest, err := img.Digest(); err == nil {
		inst.Digest = digest.String()
	}
	inst.ID = cfgName.Hex
	if checkID(inst.ID) != nil || cfgName.Algorithm != "sha256" {
		return inst, fmt.Errorf("image config digest %s is not sha256", cfgName)
	}

	if _, err := os.Stat(filepath.Join(w.d.treePath(inst.ID), manifestFile)); err == nil {
		inst.Reused = true
		prev, err := w.Install("", name, inst.ID, Meta{})
		if err != nil {
			return inst, err
		}
		return w.finish(inst, prev)
	}

	work, err := w.WorkDir("install")
	if err != nil {
		return inst, err
	}
	defer w.discardOnError(work, &err)
	tree := filepath.Join(work, treeDir)
	if err := os.Mkdir(tree, 0o755); err != nil {
		return inst, err
	}
	if err := applyImage(ctx, img, cfg, tree, remote, opts); err != nil {
		return inst, err
	}
	if err := addMountpoints(tree); err != nil {
		return inst, err
	}
	meta := Meta{Source: source, Digest: inst.Digest, Env: imageEnv(cfg.Config.Env), WorkingDir: cfg.Config.WorkingDir, User: cfg.Config.User}
	if n := len(strings.Join(meta.Env, "")) + len(meta.WorkingDir) + len(meta.User); n > maxConfigValues {
		return inst, fmt.Errorf("%w: its Env, WorkingDir and User take %d bytes, more than %d", ErrHostile, n, maxConfigValues)
	}
	if meta.UID, meta.GID, err = resolveUser(tree, cfg.Config.User); err != nil {
		return inst, err
	}
	prev, err := w.Install(work, name, inst.ID, meta)
	if err != nil {
		return inst, err
	}
	return w.finish(inst, prev)
}

// finish collects the tree name pointed at before, unless runs hold it (the
// daemon collects it when they end). The install is done either way: a
// failure to collect is reported in inst.CollectErr, not as the install's.
func (w *Writer) finish(inst Installed, prev string) (Installed, error) {
	inst.Previous = prev
	if prev != "" {
		inst.Collected, inst.CollectErr = w.GC(prev)
	}
	return inst, nil
}

// applyImage applies img's layers in order onto tree.
func applyImage(ctx context.Context, img v1.Image, cfg *v1.ConfigFile, tree string, remote bool, opts InstallOptions) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return fmt.Errorf("the image has %d layers but its config lists %d", len(layers), len(cfg.RootFS.DiffIDs))
	}
	a, err := newApplier(ctx, tree, opts.budget())
	if err != nil {
		return err
	}
	defer a.Close()
	stream := &streamBudget{left: opts.budget().Bytes + opts.budget().Entries*1024}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if err := applyLayer(ctx, a, l, cfg.RootFS.DiffIDs[i], i+1, len(layers), stream, remote, opts.Progress); err != nil {
			return err
		}
	}
	return nil
}

// ErrDigestMismatch is wrapped when a layer's contents are not those its
// digest names.
var ErrDigestMismatch = errors.New("digest mismatch")

func applyLayer(ctx context.Context, a *applier, l v1.Layer, diffID v1.Hash, n, of int, stream *streamBudget, remote bool, progress Progress) (err error) {
	digest, _ := l.Digest()
	size, _ := l.Size()
	var rc io.ReadCloser
	if remote {
		rc, err = l.Compressed()
	} else {
		rc, err = l.Uncompressed()
		size = 0
	}
	if err != nil {
		return fmt.Errorf("layer %d of %d (%s): %w", n, of, digest, err)
	}
	defer rc.Close()
	defer func() {
		if err != nil {
			err = fmt.Errorf("layer %d of %d (%s): %w", n, of, digest, noSpaceHint(err))
		}
	}()
	// The compressed digest is checked here, not only by
	// go-containerregistry, so that a corrupt download is reported as
	// such, also when it first breaks the archive.
	compressed := sha256.New()
	counted := &progressReader{r: io.TeeReader(rc, compressed), ctx: ctx, update: Update{Layer: n, Layers: of, Digest: digest.String(), Total: size}, progress: progress}
	counted.report()
	tarStream, err := decompress(counted)
	if err != nil {
		return err
	}
	defer tarStream.Close()
	h := sha256.New()
	body := io.TeeReader(stream.reader(tarStream), h)
	applyErr := a.apply(body)
	if applyErr != nil && (ctx.Err() != nil || errors.Is(applyErr, ErrTooLarge) || errors.Is(applyErr, ErrHostile) ||
		errors.Is(applyErr, unix.ENOSPC) || errors.Is(applyErr, unix.EDQUOT)) {
		// Reading the rest could only tell a damaged download from a
		// hostile one, at the cost of the whole layer.
		return applyErr
	}
	// The rest of the layer past the tar's end (or past where applying
	// failed) is still hashed, and the compressed stream read to its end.
	_, drainErr := io.Copy(io.Discard, body)
	if _, err := io.Copy(io.Discard, counted); err != nil && drainErr == nil {
		drainErr = err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if remote && digest.Algorithm == "sha256" && hex.EncodeToString(compressed.Sum(nil)) != digest.Hex {
		return fmt.Errorf("%w: the layer downloaded does not hash to its digest; try again, or ask the registry's operator", ErrDigestMismatch)
	}
	if drainErr == nil {
		if err := verifyDigest(h, diffID); err != nil {
			return err
		}
	}
	if drainErr != nil && !errors.Is(drainErr, ErrTooLarge) {
		// Compressed data that does not decompress is corrupt.
		return fmt.Errorf("%w: %w", ErrDigestMismatch, drainErr)
	}
	if applyErr != nil {
		return applyErr
	}
	if drainErr != nil {
		return drainErr
	}
	counted.update.Finished = true
	counted.report()
	return nil
}

func verifyDigest(h hash.Hash, want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("layer diff id %s is not sha256", want)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("%w: its contents hash to sha256:%s, the image config says %s", ErrDigestMismatch, got, want)
	}
	return nil
}

// decompress undoes a layer's compression, found from its first bytes
// (media types are not always honest): gzip, zstd or none.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDigestMismatch, err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// streamBudget bounds the uncompressed bytes of all layers together.
type streamBudget struct{ left int64 }

func (s *streamBudget) reader(r io.Reader) io.Reader { return &budgetReader{s: s, r: r} }

type budgetReader struct {
	s *streamBudget
	r io.Reader
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.s.left <= 0 {
		return 0, fmt.Errorf("%w: its layers unpack to more than the store's budget", ErrTooLarge)
	}
	if int64(len(p)) > b.s.left {
		p = p[:b.s.left]
	}
	n, err := b.r.Read(p)
	b.s.left -= int64(n)
	return n, err
}

// progressReader counts a layer's bytes for Progress and stops reading when
// ctx ends, so that an interrupted install stops between two reads.
type progressReader struct {
	r        io.Reader
	ctx      context.Context
	update   Update
	progress Progress
	reported int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, context.Cause(p.ctx)
	}
	n, err := p.r.Read(b)
	p.update.Done += int64(n)
	if p.update.Done-p.reported >= 256<<10 {
		p.report()
	}
	return n, err
}

func (p *progressReader) report() {
	p.reported = p.update.Done
	if p.progress != nil {
		p.progress(p.update)
	}
}

// imageEnv is the environment runs in a pulled image start with: the
// image's own, with the PATH and HOME a runner needs if it sets none.
func imageEnv(env []string) []string {
	env = slices.DeleteFunc(slices.Clone(env), badEnv)
	has := func(key string) bool {
		return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	}
	if !has("PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !has("HOME") {
		env = append(env, "HOME=/ATO/context") // the run's writable working directory
	}
	return env
}

// addMountpoints makes the directories the sandbox mounts on, which many
// images lack (an image's /proc and /dev are usually empty). What stands in
// their place is replaced: the sandbox mounts there whatever the image says.
func addMountpoints(tree string) error {
	for _, mp := range []struct {
		name string
		mode uint32
	}{{"ATO", 0o755}, {"proc", 0o555}, {"dev", 0o755}, {"tmp", 0o1755}} {
		p := filepath.Join(tree, mp.name)
		info, err := os.Lstat(p)
		if err == nil && info.IsDir() {
			continue
		}
		if err == nil {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("making mountpoint /%s: %w", mp.name, err)
			}
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			return fmt.Errorf("making mountpoint /%s: %w", mp.name, err)
		}
		if err := os.Chmod(p, os.FileMode(mp.mode&0o777)|stickyBit(mp.mode)); err != nil {
			return err
		}
	}
	return nil
}

// resolveUser turns an image's User ("", "uid", "uid:gid", "name",
// "name:group") into ids, with the image's own /etc/passwd and /etc/group,
// read without following links out of the tree.
func resolveUser(tree, spec string) (uid, gid uint32, err error) {
	if spec == "" {
		return 0, 0, nil
	}
	passwd, _ := readTreeFile(tree, "etc/passwd")
	group, _ := readTreeFile(tree, "etc/group")
	u, err := user.GetExecUser(spec, &user.ExecUser{}, bytes.NewReader(passwd), bytes.NewReader(group))
	if err != nil {
		return 0, 0, fmt.Errorf("resolving the image's user %q in its /etc/passwd and /etc/group: %w", spec, err)
	}
	if u.Uid < 0 || u.Gid < 0 || u.Uid > 1<<31-1 || u.Gid > 1<<31-1 {
		return 0, 0, fmt.Errorf("the image's user %q is %d:%d, out of range", spec, u.Uid, u.Gid)
	}
	return uint32(u.Uid), uint32(u.Gid), nil
}

// readTreeFile reads a small regular file of the tree, never following a
// symbolic link on the way.
func readTreeFile(tree, rel string) ([]byte, error) {
	a, err := newApplier(context.Background(), tree, Budget{})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	dfd, err := a.dir(dirOf(rel))
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, filepath.Base(rel), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
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
