package rootfs

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/mkdirs"
)

// debootstrapScript builds the tree of a recipe: debootstrap and apt are
// driven from the shell they are made for, and the store's bookkeeping
// stays here, in one place for every kind of install.
//
//go:embed debootstrap.sh
var debootstrapScript []byte

// builderVersion is part of every built image's recipe hash: bump it when a
// change to debootstrap.sh or Build changes the trees built, so that
// existing images count as out of date.
const builderVersion = "5"

// builtEnv is the environment of runs in a built image.
var builtEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"}

// RecipeHash identifies what a recipe builds: the recipe and the builder.
func RecipeHash(recipe []byte) string {
	return digestHex("atod rootfs build", builderVersion, string(recipe))
}

// BuildOptions say how Build runs.
type BuildOptions struct {
	Force bool      // rebuild even if the image is up to date
	Log   io.Writer // the builder's progress lines; nil discards them
	// DebCache is a directory, created with its parents if missing, that
	// keeps the .deb files the build downloads, so the next build of an
	// unchanged package set downloads nothing. After a build it holds
	// exactly the packages of that build's tree. Empty keeps none.
	DebCache string
}

// Build builds image name from its recipe (see Recipe) with debootstrap and
// installs it. An image built from the same recipe by the same builder is
// left as it is unless opts.Force (e.g. to pick up security updates).
func (w *Writer) Build(ctx context.Context, name string, opts BuildOptions) (inst Installed, err error) {
	inst.Name = name
	recipe, ok := Recipe(name)
	if !ok {
		return inst, fmt.Errorf("building image %s: atod has no recipe for it (recipes: %v)", name, Recipes())
	}
	hash := RecipeHash(recipe)
	if !opts.Force {
		if img, err := w.d.Lookup(name); err == nil {
			if m, err := w.d.manifestOf(img.ID); err == nil && m.RecipeHash == hash {
				inst.ID, inst.Reused = img.ID, true
				return inst, nil
			}
		}
	}
	work, err := w.WorkDir("build")
	if err != nil {
		return inst, err
	}
	defer w.discardOnError(work, &err)
	script := filepath.Join(work, "debootstrap.sh")
	recipeFile := filepath.Join(work, "recipe")
	if err := os.WriteFile(script, debootstrapScript, 0o700); err != nil {
		return inst, err
	}
	if err := os.WriteFile(recipeFile, recipe, 0o600); err != nil {
		return inst, err
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, "/bin/bash", script, recipeFile, filepath.Join(work, treeDir), name)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	if opts.DebCache != "" {
		cache, err := filepath.Abs(opts.DebCache)
		if err != nil {
			return inst, fmt.Errorf("building image %s: %w", name, err)
		}
		if err := claimDebCache(cache); err != nil {
			return inst, fmt.Errorf("building image %s: %w", name, err)
		}
		cmd.Env = append(cmd.Env, "ATOD_DEB_CACHE="+cache)
	}
	// Its own process group, so that cancelling stops debootstrap and
	// apt too, not just the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The builders share the store's lock (one open file, one flock):
	// should atod die, the store stays locked until the last of them
	// is gone, and no other writer removes the tree they still write.
	cmd.ExtraFiles = []*os.File{w.lock}
	runErr := cmd.Run()
	// Whatever the build started and left running goes now, before the
	// tree is checked over: it would hold the store's lock, and could
	// change the tree under normalizeTree.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return inst, fmt.Errorf("building image %s: %w", name, context.Cause(ctx))
		}
		return inst, fmt.Errorf("building image %s: %w", name, runErr)
	}
	for _, f := range []string{script, recipeFile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return inst, err
		}
	}
	if err := normalizeTree(filepath.Join(work, treeDir)); err != nil {
		return inst, err
	}
	inst.ID = digestHex("build", name, hash, randomID())
	prev, err := w.Install(work, name, inst.ID, Meta{Source: "build " + name, RecipeHash: hash, Env: builtEnv})
	if err != nil {
		return inst, err
	}
	return w.finish(inst, prev)
}

// debCacheMark marks a .deb cache that atod made, the only kind whose
// files the builder prunes (debootstrap.sh): a directory the operator
// named that holds other things (apt's own archive, say) only gains files.
const debCacheMark = ".atod-deb-cache"

// claimDebCache creates the .deb cache dir with its parents if missing, and
// marks it as atod's if it is new or empty.
func claimDebCache(dir string) error {
	if _, err := mkdirs.All(dir, 0o755); err != nil {
		return fmt.Errorf("creating the .deb cache: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading the .deb cache: %w", err)
	}
	if len(entries) > 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, debCacheMark), nil, 0o644); err != nil {
		return fmt.Errorf("marking the .deb cache: %w", err)
	}
	return nil
}

// manifestOf reads the manifest of tree id.
func (d *Dir) manifestOf(id string) (*manifest, error) {
	f, err := os.Open(filepath.Join(d.treePath(id), manifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readManifest(f)
}

// normalizeTree gives a built tree the owners and modes an unpacked one
// gets (see ImageIDShift): no host user owns or may write anything in it,
// and no file is set-id. The tree is still in the store's private work
// area, where no one else can change it under the walk.
func normalizeTree(tree string) error {
	err := filepath.WalkDir(tree, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		// Hard links show one inode more than once: shift it once.
		if uid, gid := storedID(int(st.Uid)), storedID(int(st.Gid)); st.Uid < ImageIDShift && (uid != int(st.Uid) || gid != int(st.Gid)) {
			if err := os.Lchown(path, uid, gid); err != nil {
				return err
			}
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		// File capabilities would work for a host user running the
		// file from the store, as set-id bits would; runs have none to
		// gain (no_new_privs). Chown drops them for other owners.
		if err := unix.Removexattr(path, "security.capability"); err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("dropping file capabilities of %s: %w", path, err)
		}
		// Chmod after chown, which may clear set-id bits itself.
		if mode := st.Mode & 0o7777; mode&^0o1755 != 0 {
			return os.Chmod(path, fs.FileMode(mode&0o755)|stickyBit(mode))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("normalizing owners and modes of %s: %w", tree, err)
	}
	return nil
}

func stickyBit(mode uint32) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}
