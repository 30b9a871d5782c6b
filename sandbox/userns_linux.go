package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A rootless daemon lives in a user and mount namespace of its own, in
// which it is root: uid and gid 0 there are its own uid and gid on the host,
// and nothing else is mapped. It gains no privilege on the host by it, but
// it may mount in its own mount namespace, which each run's writable root
// needs (a tmpfs and an overlay; overlayfs allows mounts in a user
// namespace since Linux 5.11). Runs' user namespaces are made inside it,
// each mapping its 0 to the daemon's 0: the daemon's host uid, as before.
// Files of the image store that the daemon's user owns are root's inside,
// so a store of its own gives runs an image they may change (in their
// overlay) as they may under a root daemon.

// EnterUserNS gives an unprivileged process a user and mount namespace of
// its own, in which it is root (see above). It re-executes the program
// there, waits for it, forwards signals to it (runInstead), and exits
// with its status; it returns only in the re-executed program, and at once
// for root and for a process in such a namespace already. Call it first
// thing in main.
func EnterUserNS() error {
	if os.Geteuid() == 0 {
		return nil // root, or root of its own namespace already
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if err := checkRootlessProcess(); err != nil {
		return fmt.Errorf("running rootless as uid %d (atod was not started as root): %w", uid, err)
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
		// An unprivileged process may write gid_map only once setgroups
		// is denied (user_namespaces(7)).
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := runInstead(cmd); err != nil {
		return fmt.Errorf("running rootless as uid %d (atod was not started as root): %w: entering a user namespace of its own: %v%s",
			uid, ErrNoRootless, err, userNSHint())
	}
	return nil // not reached
}

// forwarded reports whether runInstead passes signal s on to the program
// it runs. A terminal's Ctrl-C and Ctrl-\ go to its whole foreground
// process group, the program's too: forwarded, one Ctrl-C would be two (and
// a second SIGINT ends a drain at once). A kill -INT sent to this process
// alone while it is in the foreground is lost so; SIGTERM is the daemon's
// stop signal.
func forwarded(s os.Signal, inForeground func() bool) bool {
	if s == syscall.SIGINT || s == syscall.SIGQUIT {
		return !inForeground()
	}
	return true
}

// inForegroundGroup reports whether this process's group is the
// foreground group of its controlling terminal, if it has one. The
// re-executed program is in that group too (runInstead makes no other).
func inForegroundGroup() bool {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // no controlling terminal
	}
	defer unix.Close(fd)
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// runInstead starts cmd in place of this program: it forwards the signals
// an operator sends a daemon (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
// SIGUSR2) to it, waits for it and exits with its status. It returns only
// when cmd cannot be started or waited for.
func runInstead(cmd *exec.Cmd) error {
	// It takes this program's place for systemd too: the watchdog, which
	// WATCHDOG_PID names this process for (sd_watchdog_enabled(3)), is
	// its to ping (the unit says NotifyAccess=all).
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = slices.DeleteFunc(slices.Clone(cmd.Env), func(e string) bool { return strings.HasPrefix(e, "WATCHDOG_PID=") })
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if forwarded(s, inForegroundGroup) {
				_ = cmd.Process.Signal(s)
			}
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				os.Exit(0)
			case errors.As(err, &exit):
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(exit.ExitCode())
			}
			return fmt.Errorf("waiting for the re-executed program: %w", err)
		}
	}
}

// HostUser reports, for a process that EnterUserNS has given a user
// namespace of its own, the host uid and gid that its uid and gid 0 are;
// ok is false in any other process. It reads the namespace's mappings, so
// it needs no state of its own.
func HostUser() (uid, gid int, ok bool) {
	uid, uok := ownRootMapping("/proc/self/uid_map")
	gid, gok := ownRootMapping("/proc/self/gid_map")
	return uid, gid, uok && gok
}

// ownRootMapping reads a uid_map or gid_map that maps exactly one id, 0 to a
// host id other than 0 (the namespace EnterUserNS makes), and returns that
// host id.
func ownRootMapping(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 1 {
		return 0, false
	}
	var inside, host, size int
	if _, err := fmt.Sscan(strings.TrimSpace(lines[0]), &inside, &host, &size); err != nil {
		return 0, false
	}
	if inside != 0 || size != 1 || host == 0 {
		return 0, false
	}
	return host, true
}
