// Package debian builds atod's Debian images: it runs mmdebstrap
// (build-tree.sh, compiled in) with one of the store's recipes (see
// rootfs.Recipe), gives the tree the owners and modes the store keeps
// (layer.Normalize) and installs it into the store.
package debian

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/atod-project/atod/internal/mkdirs"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/layer"
)

// buildTreeScript builds the tree of a recipe: mmdebstrap and apt are
// driven from the shell they are made for, and the store's bookkeeping
// stays here, in one place for every kind of install.
//
//go:embed build-tree.sh
var buildTreeScript []byte

// builderVersion is part of every built image's recipe hash: bump it when a
// change to build-tree.sh or Build changes the trees built, so that
// existing images count as out of date.
const builderVersion = "8"

// builtEnv is the environment of runs in a built image.
var builtEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"}

// RecipeHash identifies what a recipe builds: the recipe and the builder.
func RecipeHash(recipe []byte) string {
	return digestHex("atod rootfs build", builderVersion, string(recipe))
}

// Options say how Build runs.
type Options struct {
	Force bool      // rebuild even if the image is up to date
	Log   io.Writer // the builder's progress lines; nil discards them
	// DebCache is a directory, created with its parents if missing, that
	// keeps the .deb files the build downloads, so the next build of an
	// unchanged package set downloads nothing. After a build it holds
	// exactly the packages of the latest build of each image (one that
	// atod made; another directory only gains files). Empty keeps none.
	DebCache string
}

// Build builds image name from its recipe (see rootfs.Recipe) with
// mmdebstrap and installs it with w. An image built from the same recipe
// by the same builder is left as it is unless opts.Force (e.g. to pick up
// security updates).
func Build(ctx context.Context, w *rootfs.Writer, name string, opts Options) (inst rootfs.Installed, err error) {
	inst.Name = name
	recipe, ok := rootfs.Recipe(name)
	if !ok {
		return inst, fmt.Errorf("building image %s: atod has no recipe for it (recipes: %v)", name, rootfs.Recipes())
	}
	hash := RecipeHash(recipe)
	if !opts.Force {
		if id, built, err := w.Dir().RecipeHash(name); err == nil && built == hash {
			inst.ID, inst.Reused = id, true
			return inst, nil
		}
	}
	work, err := w.WorkDir("build")
	if err != nil {
		return inst, err
	}
	defer w.DiscardOnError(work, &err)
	script := filepath.Join(work, "build-tree.sh")
	recipeFile := filepath.Join(work, "recipe")
	if err := os.WriteFile(script, buildTreeScript, 0o700); err != nil {
		return inst, err
	}
	if err := os.WriteFile(recipeFile, recipe, 0o600); err != nil {
		return inst, err
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, "/bin/bash", script, recipeFile, filepath.Join(work, rootfs.TreeDir), name)
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
	// Its own process group, so that cancelling stops mmdebstrap and
	// apt too, not just the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The builders share the store's lock (one open file, one flock):
	// should atod die, the store stays locked until the last of them
	// is gone, and no other writer removes the tree they still write.
	w.Inherit(cmd)
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
	versionsFile := filepath.Join(work, "versions")
	versions, err := readVersions(versionsFile)
	if err != nil {
		return inst, fmt.Errorf("building image %s: %w", name, err)
	}
	for _, f := range []string{script, recipeFile, versionsFile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return inst, err
		}
	}
	if err := layer.Normalize(filepath.Join(work, rootfs.TreeDir)); err != nil {
		return inst, err
	}
	inst.ID = digestHex("build", name, hash, randomID())
	prev, err := w.Install(work, name, inst.ID, rootfs.Meta{Source: "build " + name, RecipeHash: hash, Env: builtEnv, Versions: versions})
	if err != nil {
		return inst, err
	}
	w.CollectPrevious(&inst, prev)
	return inst, nil
}

// readVersions reads the versions build-tree.sh found (its recipe's
// version lines): a line "ID<TAB>VERSION" each. Nil when there are none.
func readVersions(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the versions of the languages: %w", err)
	}
	var versions map[string]string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		id, v, ok := strings.Cut(line, "\t")
		if !ok || id == "" || v == "" {
			return nil, fmt.Errorf("reading the versions of the languages: malformed line %q", line)
		}
		if versions == nil {
			versions = map[string]string{}
		}
		versions[id] = v
	}
	return versions, nil
}

// debCacheMark marks a .deb cache that atod made, the only kind whose
// files the builder prunes (build-tree.sh): a directory the operator
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

// digestHex is the hex sha256 of its parts, each followed by a NUL.
func digestHex(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00") + "\x00"))
	return hex.EncodeToString(sum[:])
}

// randomID makes a built tree's id unique: a build is never the same
// tree twice.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
