package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
)

// inOwnMountNamespace runs f on a thread of its own in a mount namespace of
// its own, private, so that what f mounts goes with the thread (never
// unlocked, it ends with its goroutine), whatever f does; it returns the
// namespace's error or f's.
func inOwnMountNamespace(f func() error) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			return f()
		}()
	}()
	return <-done
}

// TestRemoveWritableRoot: a writable root's removal takes every mount off
// its points, stacked ones too, and never deletes through one: an image's
// tree bind-mounted twice at its lower directory keeps its files.
func TestRemoveWritableRoot(t *testing.T) {
	atodtest.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "root")
	tree := t.TempDir()
	atodtest.WriteFile(t, filepath.Join(tree, "keep"), "the image's")
	err := inOwnMountNamespace(func() error {
		for _, d := range []string{rootDir, rwDir, lowerDir} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return err
			}
		}
		for range 2 {
			if err := unix.Mount(tree, filepath.Join(dir, lowerDir), "", unix.MS_BIND, ""); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", filepath.Join(dir, rootDir), "tmpfs", 0, ""); err != nil {
				return err
			}
		}
		if err := unix.Mount("tmpfs", filepath.Join(dir, rwDir), "tmpfs", 0, ""); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, rwDir, "upper"), nil, 0o644); err != nil {
			return err
		}
		return (&writableRoot{dir: dir}).remove()
	})
	if _, err := os.Stat(filepath.Join(tree, "keep")); err != nil {
		t.Errorf("the image's tree lost its file through a mount left on the root: %v", err)
	}
	if err != nil {
		t.Fatalf("removing a writable root: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the writable root is still there (%v)", err)
	}
}

// TestRemoveDirKeepsMounts: a directory of a run's that is a mount point
// still (one its daemon could not take off: a rootless daemon's inherited
// mounts are locked) is not removed, nor anything through it.
func TestRemoveDirKeepsMounts(t *testing.T) {
	atodtest.NeedRoot(t)
	for _, point := range []string{"point", "."} {
		dir := filepath.Join(t.TempDir(), "root")
		var removeErr, keptErr error
		err := inOwnMountNamespace(func() error {
			if err := os.MkdirAll(filepath.Join(dir, "point"), 0o755); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", filepath.Join(dir, point), "tmpfs", 0, ""); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, "point"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "point", "mounted"), nil, 0o644); err != nil {
				return err
			}
			removeErr = removeDir(dir, nil, []string{"point"})
			_, keptErr = os.Stat(filepath.Join(dir, "point", "mounted"))
			return nil
		})
		switch {
		case err != nil:
			t.Fatalf("mounting a tmpfs at %s: %v", point, err)
		case removeErr == nil:
			t.Errorf("%s mounted: removeDir removed it", point)
		case !errors.Is(removeErr, unix.EBUSY):
			t.Errorf("%s mounted: %v, want the mount point's EBUSY", point, removeErr)
		}
		if keptErr != nil {
			t.Errorf("%s mounted: a file of the mount was removed through it: %v", point, keptErr)
		}
	}
}
