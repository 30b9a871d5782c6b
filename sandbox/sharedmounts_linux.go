package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A run's /ATO files are bind mounts, and /proc/self/mountinfo shows, for a
// bind mount, the path of its source within the source's filesystem: bound
// from the host's disk, the run would read the daemon's state directory,
// where atod-init was installed and which Bash it is (issue 10). So a daemon
// that can mount (root, or root of its own user namespace) keeps both
// sources on tmpfs mounts of its own, in its own mount namespace, where the
// paths say nothing of the host:
//
//	<StateDir>/jobs    the job files, one directory per run (mountinfo
//	                   shows /<job id>/code)
//	<StateDir>/static  read-only copies of atod-init and the static Bash
//	                   (/yargs, /bash)
//
// The writable roots' mount points go on one more (<StateDir>/roots), for
// speed: the state directory may be on disk, where making and removing
// their directories took 4 % of the machine's CPU in a run of trivial runs
// (ext4, issue 13).
const staticDir = "static"

// maxJobFiles is the most a run's /ATO files (code, input, options,
// arguments, runner) may hold together.
const maxJobFiles = 16 << 20

// sharedMounts are a sandbox's tmpfs mounts; nil paths mean none (a sandbox
// that cannot mount binds from the host's files).
type sharedMounts struct {
	jobs, static, roots string
	yargs, bash         string // the copies in static
}

// mountShared mounts the job directory's tmpfs, the writable roots' and the
// static one with copies of initPath and bashPath, for slots runs at a time.
func mountShared(stateDir, jobsDir, rootsDir, initPath, bashPath string, slots int) (_ *sharedMounts, err error) {
	m := &sharedMounts{jobs: jobsDir, static: filepath.Join(stateDir, staticDir)}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("mounting the sandbox's own tmpfs: %w", err), m.unmount())
		}
	}()
	// Job files are bounded by the request size (64 KiB frames; the HTTP
	// API's bodies likewise); `atod run` and other callers by
	// maxJobFiles, which writeJobFiles checks. A tmpfs takes memory only
	// for what is written.
	if err := unix.Mount("tmpfs", jobsDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=0711,size=%dk,nr_inodes=%d", (maxJobFiles>>10)*slots, 64+16*slots)); err != nil {
		return m, err
	}
	// Directories alone: a run's root, and its three mount points
	// (rootDirs), for each slot, with room for those of roots whose
	// removal failed (an inode costs nothing until used).
	if err := unix.Mount("tmpfs", rootsDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		fmt.Sprintf("mode=0711,size=1m,nr_inodes=%d", 1024+8*slots)); err != nil {
		return m, err
	}
	m.roots = rootsDir
	if err := os.Mkdir(m.static, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return m, err
	}
	if err := unix.Mount("tmpfs", m.static, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,nr_inodes=16"); err != nil {
		return m, err
	}
	m.yargs, m.bash = filepath.Join(m.static, "yargs"), filepath.Join(m.static, "bash")
	for src, dst := range map[string]string{initPath: m.yargs, bashPath: m.bash} {
		if err := copyExecutable(src, dst); err != nil {
			return m, err
		}
	}
	if err := unix.Mount("", m.static, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return m, fmt.Errorf("making %s read-only: %w", m.static, err)
	}
	return m, nil
}

// copyExecutable copies the program src to dst, readable and executable by
// everyone (the runs' unprivileged uids) and writable by no one.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o555)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// unmount detaches the mounts m made.
func (m *sharedMounts) unmount() error {
	var errs []error
	for _, p := range []string{m.static, m.roots, m.jobs} {
		if p == "" {
			continue
		}
		if err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
