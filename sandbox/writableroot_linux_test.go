package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/atodtest"
)

// TestRemoveWritableRoot: a writable root's removal takes every mount off
// its points, stacked ones too, and never deletes through one: an image's
// tree bind-mounted twice at its lower directory keeps its files. It runs
// in a mount namespace of its own thread's, which ends with the test.
func TestRemoveWritableRoot(t *testing.T) {
	atodtest.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "root")
	tree := t.TempDir()
	atodtest.WriteFile(t, filepath.Join(tree, "keep"), "the image's")
	done := make(chan error)
	go func() {
		// Never unlocked: the thread, in its own mount namespace, ends
		// with the goroutine.
		runtime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
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
		}()
	}()
	err := <-done
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
