package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox"
)

// checkResult is one row of `atod check`: what was checked, how it went,
// and what it found or what to do.
type checkResult struct {
	what, result, detail string
}

// The results of a check: fail means the daemon could not serve.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "FAIL"
	checkInfo = "info"
)

const checkUsage = `usage: atod check [flags]

Diagnoses this host for atod serve with the same configuration (the same
flags and --config): the kernel, cgroups, user namespaces, overlayfs, the
image store, the languages, free disk, and then what a start does (the
sandbox: atod-init, the static Bash, seccomp, the job cgroups; a dead
daemon's leftovers are removed, as its next start would) and one run. It
prints a table, with what to do for each failure, and exits 1 when the
daemon could not serve. It runs nothing of a daemon that runs already with
this configuration: it says so.

`

// check is `atod check`.
func check(ctx context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod check", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	cfg := defaultConfig()
	cfg.LogLevel = "error" // the table says it all
	rest, err := cfg.parseFlags(fs, args, storeFlags|sandboxFlags)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("check takes no arguments, got %q", rest)
	}
	results := runChecks(ctx, &cfg, cgroupView, cfg.logger(io.Discard))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "check\tresult\tdetail")
	failed := false
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.what, r.result, r.detail)
		failed = failed || r.result == checkFail
	}
	w.Flush()
	if failed {
		fmt.Fprintln(os.Stderr, "atod check: atod serve could not serve on this host: see the FAIL rows")
		return exitCode(1)
	}
	return nil
}

// runChecks checks the host for cfg, in order; a failure that leaves the
// rest meaningless ends the list.
func runChecks(ctx context.Context, cfg *config, cgroupView string, log *slog.Logger) []checkResult {
	var out []checkResult
	add := func(what, result, detail string) { out = append(out, checkResult{what, result, detail}) }
	add("atod", checkInfo, version.Get().String())

	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		release := unix.ByteSliceToString(uts.Release[:])
		if major, minor := kernelVersion(release); major < 5 || major == 5 && minor < 19 {
			add("kernel", checkWarn, release+": before 5.19 a run's root is not idmapped (overlayfs takes idmapped layers since 5.19): images' files are nobody's inside")
		} else {
			add("kernel", checkOK, release)
		}
	}
	mode := map[cgroups.CGMode]string{cgroups.Legacy: "v1", cgroups.Hybrid: "hybrid (v1 controllers, a cgroup2 mount)", cgroups.Unified: "v2"}[cgroups.Mode()]
	if mode == "" {
		add("cgroups", checkFail, "no cgroup filesystem at /sys/fs/cgroup: mount cgroup2 there (a systemd host does)")
		return out
	}
	add("cgroups", checkInfo, mode+", "+cgroupsDetail(cgroupView))
	if n, err := readInt("/proc/sys/user/max_user_namespaces"); err == nil && n == 0 {
		add("user namespaces", checkFail, "user.max_user_namespaces is 0: every run needs one; sysctl -w user.max_user_namespaces=15000")
	} else if v, err := readInt("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && v == 0 && os.Geteuid() != 0 {
		add("user namespaces", checkFail, "kernel.unprivileged_userns_clone is 0: a rootless atod needs it 1 (sysctl -w kernel.unprivileged_userns_clone=1)")
	} else {
		add("user namespaces", checkOK, "available")
	}
	if fss, err := os.ReadFile("/proc/filesystems"); err == nil && !strings.Contains(string(fss), "\toverlay\n") {
		add("overlayfs", checkWarn, "not loaded (a run's writable root is an overlay; the kernel loads the module at the first mount, if it has one): modprobe overlay")
	} else {
		add("overlayfs", checkOK, "available")
	}

	if _, err := os.Stat(cfg.Images); err != nil {
		add("image store", checkFail, fmt.Sprintf("%v: atod rootfs build debian-12 makes one with the default languages (or make setup)", err))
		return out
	}
	cat, images, err := cfg.stores()
	if err != nil {
		add("image store", checkFail, err.Error())
		return out
	}
	if err := images.CheckReachable(); err != nil {
		add("image store", checkFail, err.Error())
		return out
	}
	entries, _ := images.List()
	owner, err := images.Owner()
	uid, gid := os.Geteuid(), os.Getegid()
	if hostUID, hostGID, ownNS := sandbox.HostUser(); ownNS {
		uid, gid = hostUID, hostGID // rootless, in its own user namespace
	}
	switch {
	case err != nil:
		add("image store", checkFail, err.Error())
		return out
	case uid != 0 && storeNotOurs(owner, uid, gid, cfg.Images) != "":
		add("image store", checkWarn, fmt.Sprintf("%s: %d images; %s", cfg.Images, len(entries), storeNotOurs(owner, uid, gid, cfg.Images)))
	default:
		add("image store", checkOK, fmt.Sprintf("%s: %d images, %s", cfg.Images, len(entries), describeOwner(owner)))
	}
	result, detail := disk(cfg.Images, 1<<30)
	add("free disk", result, detail)
	runnable := 0
	var missing []string
	bashRuns := false
	for _, a := range availabilities(cat, images) {
		switch {
		case a.err == nil:
			runnable++
			bashRuns = bashRuns || a.ID == "bash"
		case len(missing) < 3:
			missing = append(missing, a.ID)
		}
	}
	if runnable == 0 {
		add("languages", checkFail, "none can run: install an image (atod rootfs build debian-12, or make setup)")
		return out
	}
	detail = fmt.Sprintf("%d of %d can run", runnable, len(cat.All()))
	if runnable < len(cat.All()) {
		detail += fmt.Sprintf(" (not %s...: atod languages --all says how to install them)", strings.Join(missing, ", "))
	}
	add("languages", checkOK, detail)

	srv, done, err := cfg.oneShot(log, cgroupView, cat, images)
	switch {
	case errors.Is(err, sandbox.ErrInUse):
		add("sandbox", checkInfo, "a daemon runs with this configuration (it holds its cgroup), so its start checked the sandbox: "+err.Error())
		return out
	case err != nil:
		add("sandbox", checkFail, err.Error())
		return out
	}
	defer done()
	add("sandbox", checkOK, fmt.Sprintf("atod-init, the static Bash (%s), seccomp, job cgroups; %d run slots", cfg.bashPath(), cfg.Slots))
	if !bashRuns {
		add("a run", checkInfo, "bash cannot run here: atod languages verify runs the others")
		return out
	}
	res, err := srv.Execute(ctx, protocol.Request{Language: "bash", Code: []byte("echo ok"), Timeout: 10})
	switch {
	case err != nil:
		add("a run", checkFail, err.Error())
	case res.StatusType != "exited" || res.StatusValue != 0 || string(res.Stdout) != "ok\n":
		add("a run", checkFail, fmt.Sprintf("bash `echo ok` ended %s/%d with stdout %q and stderr %q", res.StatusType, res.StatusValue, res.Stdout, res.Stderr))
	default:
		add("a run", checkOK, fmt.Sprintf("bash `echo ok` in %.1f ms", float64(res.Real)/1e6))
	}
	return out
}

// kernelVersion is the major and minor number of a kernel release.
func kernelVersion(release string) (major, minor int) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	}
	return major, minor
}

func cgroupsDetail(view string) string {
	if view != "" {
		return "delegated: " + view
	}
	return "the daemon's own"
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// disk is a row's result and detail for the free space of dir's
// filesystem: warn below least bytes.
func disk(dir string, least uint64) (result, detail string) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return checkOK, err.Error()
	}
	free := st.Bavail * uint64(st.Bsize)
	result = checkOK
	if free < least {
		result = checkWarn
	}
	return result, fmt.Sprintf("%.1f GiB free", float64(free)/(1<<30))
}
