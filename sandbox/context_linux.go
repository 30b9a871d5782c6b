package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/sandbox/job"
)

// writeContextFiles writes files into the working directory of the
// sandbox whose init is pid, which waits for its job: nothing of the run
// has started, and nothing but init is in the sandbox. Files and the
// directories made for them belong to uid and gid (host ids: the run's
// user).
//
// The sandbox's root is the run's, over an image whose contents are the
// image's author's: every step is taken from a directory fd with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), so
// that a symlink in the image cannot lead a write out of /ATO/context.
// Their pages are charged to the daemon, not to the run's memory: they are
// bounded by the request's size.
//
// The working directory is a tmpfs the sandbox mounted in the run's user
// namespace, which maps no id but the run's: a file may be made there only
// by a process whose file system ids are mapped (else EOVERFLOW). So the
// files are made by a thread of their own with the run's ids as its file
// system ids (setfsuid(2): a thread's own), which also makes them the
// run's; the thread is never given back to the Go scheduler.
//
// waited closes when init has been reaped: its pid may then be another
// process's, so the root opened is checked to be init's by finding waited
// still open after the open (until it is reaped, a dead init's pid is its
// own).
func writeContextFiles(pid int, waited <-chan struct{}, files []job.ContextFile, uid, gid int) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("writing the run's files: %w", err)
		}
	}()
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	select {
	case <-waited:
		return errors.New("the sandbox's init has ended")
	default:
	}
	ctx, err := openBeneath(root, strings.TrimPrefix(contextDir, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", contextDir, err)
	}
	defer unix.Close(ctx)
	return asFileSystemIDs(uid, gid, func() error {
		for _, f := range files {
			if err := writeContextFile(ctx, f); err != nil {
				return fmt.Errorf("%s: %w", f.Path, err)
			}
		}
		return nil
	})
}

// asFileSystemIDs calls f on a thread of its own whose file system ids are
// uid and gid, and which then exits, its ids with it (TestAsFileSystemIDs).
func asFileSystemIDs(uid, gid int, f func() error) error {
	done := make(chan error, 1)
	go func() {
		// Locked for good: the thread exits with the goroutine (the
		// main thread, which cannot, Go parks for good), and never
		// runs another.
		runtime.LockOSThread()
		// setfsuid and setfsgid answer the previous id, not an error:
		// check by setting again.
		unix.Setfsgid(gid)
		unix.Setfsuid(uid)
		if prev, _ := unix.SetfsgidRetGid(-1); prev != gid {
			done <- fmt.Errorf("taking the run's group %d as this thread's file system group: it is %d", gid, prev)
			return
		}
		if prev, _ := unix.SetfsuidRetUid(-1); prev != uid {
			done <- fmt.Errorf("taking the run's user %d as this thread's file system user: it is %d", uid, prev)
			return
		}
		done <- f()
	}()
	return <-done
}

// openBeneath opens path below dir, following no symlink.
func openBeneath(dir int, path string, flags int, mode uint32) (int, error) {
	return unix.Openat2(dir, path, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// writeContextFile writes f below directory ctx, making its directories.
func writeContextFile(ctx int, f job.ContextFile) error {
	parts := strings.Split(f.Path, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return errors.New("not a plain relative path")
		}
	}
	dir := ctx
	for _, p := range parts[:len(parts)-1] {
		switch err := unix.Mkdirat(dir, p, 0o755); {
		case err == nil:
			// Whatever the daemon's umask. The working directory is a
			// tmpfs of the run's, empty but for what is made here:
			// p is the directory just made.
			if err := unix.Fchmodat(dir, p, 0o755, 0); err != nil {
				return err
			}
		case !errors.Is(err, unix.EEXIST):
			return err
		}
		next, err := openBeneath(dir, p, unix.O_PATH|unix.O_DIRECTORY, 0)
		if dir != ctx {
			unix.Close(dir)
		}
		if err != nil {
			return err
		}
		dir = next
	}
	if dir != ctx {
		defer unix.Close(dir)
	}
	fd, err := openBeneath(dir, parts[len(parts)-1], unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, 0o644); err != nil {
		return err
	}
	for b := f.Data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
