// Package install puts OCI and docker images into the image store: pulled
// from a registry (Pull) or imported from a docker save tarball or an OCI
// image layout (Import), through go-containerregistry. Each image's layers
// are checked against their digests as they stream in and applied onto a
// new tree by package layer; the image's config gives the runs'
// environment and user. Whatever fails, nothing of the image stays in the
// store.
package install

import (
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
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/sys/user"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/rootfs/layer"
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

// Options say how an image is installed.
type Options struct {
	Budget   layer.Budget // layer.DefaultBudget's bounds where zero
	Progress Progress     // may be nil
	// Platform picks an image from a multi-platform index; the host's
	// (linux and runtime.GOARCH) where zero.
	Platform *v1.Platform
	// Insecure lets Pull talk to a registry over plain HTTP (a registry on
	// loopback always may).
	Insecure bool
}

func (o *Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// origin is an image to install and where it comes from.
type origin struct {
	image v1.Image
	// source is what the store records of it: "pull REF" or "import PATH".
	source string
	// downloaded: its layers come over the network, and are read as they
	// arrive, compressed, so that progress counts the bytes transferred
	// and a corrupt download is told by its compressed digest. Otherwise
	// they come from a local file and are read uncompressed.
	downloaded bool
}

// Bounds of what an image's manifest and config may hold.
const (
	maxConfigBytes  = 8 << 20
	maxLayers       = 256
	maxConfigValues = 256 << 10 // Env, WorkingDir and User: they go into image.json
)

// installImage writes the layers of from.image into a new tree and installs
// it as image name. The tree's id is the image's config digest: an image
// the store holds already is only renamed. Whatever fails, nothing of the
// new tree stays behind.
func installImage(ctx context.Context, w *rootfs.Writer, name string, from origin, opts Options) (inst rootfs.Installed, err error) {
	inst.Name = name
	if err := image.CheckName(name); err != nil {
		return inst, err
	}
	img := from.image
	// A registry is untrusted too: bound what is read into memory before
	// reading it.
	m, err := img.Manifest()
	if err != nil {
		return inst, fmt.Errorf("reading image manifest: %w", err)
	}
	if m.Config.Size > maxConfigBytes {
		return inst, fmt.Errorf("%w: its config is %d bytes, more than %d", layer.ErrHostile, m.Config.Size, maxConfigBytes)
	}
	if len(m.Layers) > maxLayers {
		return inst, fmt.Errorf("%w: it has %d layers, more than %d", layer.ErrHostile, len(m.Layers), maxLayers)
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
	if rootfs.CheckTreeID(inst.ID) != nil || cfgName.Algorithm != "sha256" {
		return inst, fmt.Errorf("image config digest %s is not sha256", cfgName)
	}

	if w.Dir().HasTree(inst.ID) {
		inst.Reused = true
		prev, err := w.Install("", name, inst.ID, rootfs.Meta{})
		if err != nil {
			return inst, err
		}
		w.CollectPrevious(&inst, prev)
		return inst, nil
	}

	work, err := w.WorkDir("install")
	if err != nil {
		return inst, err
	}
	defer w.DiscardOnError(work, &err)
	tree := filepath.Join(work, rootfs.TreeDir)
	if err := os.Mkdir(tree, 0o755); err != nil {
		return inst, err
	}
	if err := applyImage(ctx, from, cfg, tree, opts); err != nil {
		return inst, err
	}
	if err := addMountpoints(tree); err != nil {
		return inst, err
	}
	meta := rootfs.Meta{Source: from.source, Digest: inst.Digest, Env: imageEnv(cfg.Config.Env), WorkingDir: cfg.Config.WorkingDir, User: cfg.Config.User}
	if n := len(strings.Join(meta.Env, "")) + len(meta.WorkingDir) + len(meta.User); n > maxConfigValues {
		return inst, fmt.Errorf("%w: its Env, WorkingDir and User take %d bytes, more than %d", layer.ErrHostile, n, maxConfigValues)
	}
	if meta.UID, meta.GID, err = resolveUser(tree, cfg.Config.User); err != nil {
		return inst, err
	}
	prev, err := w.Install(work, name, inst.ID, meta)
	if err != nil {
		return inst, err
	}
	w.CollectPrevious(&inst, prev)
	return inst, nil
}

// applyImage applies the image's layers in order onto tree.
func applyImage(ctx context.Context, from origin, cfg *v1.ConfigFile, tree string, opts Options) error {
	layers, err := from.image.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return fmt.Errorf("the image has %d layers but its config lists %d", len(layers), len(cfg.RootFS.DiffIDs))
	}
	budget := opts.Budget.WithDefaults()
	a, err := layer.Open(ctx, tree, layer.Options{Budget: budget})
	if err != nil {
		return err
	}
	defer a.Close()
	ia := &imageApply{
		ctx: ctx, applier: a, downloaded: from.downloaded, progress: opts.Progress, layers: len(layers),
		stream: &streamBudget{left: budget.Bytes + budget.Entries*1024},
	}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if err := ia.apply(l, cfg.RootFS.DiffIDs[i], i+1); err != nil {
			return err
		}
	}
	return nil
}

// imageApply is the application of one image's layers: what stays the same
// from one layer to the next.
type imageApply struct {
	ctx        context.Context
	applier    *layer.Applier
	stream     *streamBudget // the uncompressed bytes all layers may take
	downloaded bool          // see origin
	progress   Progress      // may be nil
	layers     int           // how many the image has
}

// ErrDigestMismatch is wrapped when a layer's contents are not those its
// digest names.
var ErrDigestMismatch = errors.New("digest mismatch")

// apply applies layer l, the image's nth (from 1), whose uncompressed
// contents must hash to diffID.
func (ia *imageApply) apply(l v1.Layer, diffID v1.Hash, n int) (err error) {
	ctx, of := ia.ctx, ia.layers
	digest, _ := l.Digest()
	size, _ := l.Size()
	var rc io.ReadCloser
	if ia.downloaded {
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
			err = fmt.Errorf("layer %d of %d (%s): %w", n, of, digest, layer.NoSpaceHint(err))
		}
	}()
	// The compressed digest is checked here, not only by
	// go-containerregistry, so that a corrupt download is reported as
	// such, also when it first breaks the archive.
	compressed := sha256.New()
	counted := &progressReader{r: io.TeeReader(rc, compressed), ctx: ctx, update: Update{Layer: n, Layers: of, Digest: digest.String(), Total: size}, progress: ia.progress}
	counted.report()
	tarStream, err := decompress(counted)
	if err != nil {
		return err
	}
	defer tarStream.Close()
	h := sha256.New()
	body := io.TeeReader(ia.stream.reader(tarStream), h)
	applyErr := ia.applier.Apply(body)
	if applyErr != nil && (ctx.Err() != nil || errors.Is(applyErr, layer.ErrTooLarge) || errors.Is(applyErr, layer.ErrHostile) ||
		errors.Is(applyErr, syscall.ENOSPC) || errors.Is(applyErr, syscall.EDQUOT)) {
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
	if ia.downloaded && digest.Algorithm == "sha256" && hex.EncodeToString(compressed.Sum(nil)) != digest.Hex {
		return fmt.Errorf("%w: the layer downloaded does not hash to its digest; try again, or ask the registry's operator", ErrDigestMismatch)
	}
	if drainErr == nil {
		if err := verifyDigest(h, diffID); err != nil {
			return err
		}
	}
	if drainErr != nil && !errors.Is(drainErr, layer.ErrTooLarge) {
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
		return 0, fmt.Errorf("%w: its layers unpack to more than the store's budget", layer.ErrTooLarge)
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
		mode fs.FileMode
	}{{"ATO", 0o755}, {"proc", 0o555}, {"dev", 0o755}, {"tmp", 0o755 | fs.ModeSticky}} {
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
		if err := os.Chmod(p, mp.mode); err != nil {
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
	passwd, _ := layer.ReadFile(tree, "etc/passwd")
	group, _ := layer.ReadFile(tree, "etc/group")
	u, err := user.GetExecUser(spec, &user.ExecUser{}, bytes.NewReader(passwd), bytes.NewReader(group))
	if err != nil {
		return 0, 0, fmt.Errorf("resolving the image's user %q in its /etc/passwd and /etc/group: %w", spec, err)
	}
	if u.Uid < 0 || u.Gid < 0 || u.Uid > 1<<31-1 || u.Gid > 1<<31-1 {
		return 0, 0, fmt.Errorf("the image's user %q is %d:%d, out of range", spec, u.Uid, u.Gid)
	}
	return uint32(u.Uid), uint32(u.Gid), nil
}

// badEnv reports an environment entry that is not KEY=value, which the
// store refuses in image.json.
func badEnv(kv string) bool {
	k, _, ok := strings.Cut(kv, "=")
	return !ok || k == "" || strings.ContainsRune(kv, 0)
}
