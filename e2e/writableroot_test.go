package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
)

// treeDigest hashes everything of tree that a run could change: every
// entry's path, type, mode, owner, size, mtime, link count, symlink
// target and file contents.
func treeDigest(t testing.TB, tree string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(tree, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(tree, path)
		fmt.Fprintf(h, "%q %o %d:%d %d %d.%d %d\n", rel, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Nlink)
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case info.Mode().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", tree, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// vandal writes, deletes, renames, chmods, chowns and hard-links everything
// it can: in the root, the system's directories and /ATO. (Root of a run
// has no capabilities: it may change what root owns, but not chown to ids
// its namespace does not map.)
const vandal = `
set +e
echo hi > /foo; cat /foo
for d in / /etc /usr /usr/lib /usr/bin /var /root /ATO /ATO/context /tmp /sys /proc/.. /home; do
	echo x > "$d/atod-vandal" 2>/dev/null && echo "wrote $d"
done
echo evil >> /etc/passwd && echo appended-passwd
rm -rf /usr/share/doc && echo removed-doc
rm -f /usr/bin/python3 /bin/zsh /etc/hostname && echo removed-files
mv /etc/apt /etc/apt2 && mv /usr/bin/gzip /etc/apt2/ && echo renamed
mv /usr/lib/os-release /usr/lib/os-release.moved
chmod 777 /usr/bin/env /etc && chmod 4755 /usr/bin/id && echo chmodded
chown root:root /usr/bin/env /etc/passwd && chgrp -R root /etc/apt2 && echo chowned
ln /usr/bin/env /usr/lib/env-link && ln /usr/bin/env /atod-link && echo linked
: > /usr/bin/perl && echo truncated-perl
touch -d 2001-01-01 /usr /usr/bin/env && echo touched
mkdir -p /var/lib/new/deep && echo made-dirs
for f in /ATO/code /ATO/runner /ATO/yargs /ATO/bash; do echo x >> "$f" 2>/dev/null || echo "kept $f"; done
rm -f /ATO/code 2>/dev/null || echo kept-code-link
exit 0
`

// needImageOwnership skips t unless d's runs own their image's files as
// root of their namespace: always under a root daemon (idmapped trees), and
// under a rootless one when its user owns the image store (its files are
// root's in the daemon's own user namespace; scripts/vmtest gives the
// rootless suite a copy of the store chowned to that user).
func needImageOwnership(t *testing.T, d *daemon) {
	t.Helper()
	if !d.user.rootless {
		return
	}
	var st syscall.Stat_t
	tree := testRootfsTree(t)
	if err := syscall.Stat(tree, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != d.user.uid {
		t.Skipf("the rootless daemon's uid %d does not own the image store (%s is uid %d's): its runs see the image as nobody's", d.user.uid, tree, st.Uid)
	}
}

func TestWritableRoot(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	needImageOwnership(t, d)
	tree := testRootfsTree(t)
	before := treeDigest(t, tree)

	r := execute(t, d, job{language: "bash", code: vandal, timeout: scaledTimeout(30)})
	out := string(r.Stdout)
	wants := []string{
		"hi\n", "wrote /\n", "wrote /etc\n", "wrote /usr/lib\n", "wrote /usr/bin\n", "wrote /var\n", "wrote /root\n",
		"wrote /ATO\n", "appended-passwd", "removed-files", "chmodded", "chowned",
		"linked", "truncated-perl", "touched", "made-dirs",
		"kept /ATO/code", "kept /ATO/runner", "kept /ATO/yargs", "kept /ATO/bash",
	}
	if d.user.rootless && !kernelAtLeast(t, 6, 6) {
		// Before Linux 6.6 a tmpfs has no user.* extended attributes,
		// in which an overlay in a user namespace marks a removed
		// directory of the image: removing one is EIO (README,
		// "Rootless").
		if !strings.Contains(string(r.Stderr), "cannot remove '/usr/share/doc/") || !strings.Contains(string(r.Stderr), "Input/output error") {
			t.Errorf("removing an image's directory on this kernel: stderr %s, want EIO", r.Stderr)
		}
	} else {
		wants = append(wants, "removed-doc", "renamed")
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the run could not do %q:\n%s\nstderr: %s", want, out, r.Stderr)
		}
	}
	if status(r) != "exited/0" {
		t.Errorf("status %s", status(r))
	}

	// The next runs (in every slot) see the image as it is.
	for i := range d.slots {
		r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `
			ls /foo /atod-vandal /etc/atod-vandal /atod-link 2>/dev/null
			test -d /usr/share/doc && test -x /usr/bin/python3 && echo intact
			grep -c evil /etc/passwd`})
		if got := string(r.Stdout); got != "intact\n0\n" {
			t.Errorf("run %d after the vandal sees %q, want the image as it was", i, got)
		}
	}
	if after := treeDigest(t, tree); after != before {
		t.Errorf("the image's tree changed: digest %s before, %s after", before, after)
	}
	assertNoLeftovers(t, d)
}

func TestWritableRootOwnership(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	needImageOwnership(t, d)
	// Root of the run owns the image's files, so /etc is writable as it
	// would be in the image; /ATO/code stays the sandbox's.
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `stat -c '%U:%G %a %n' / /etc /usr/lib /etc/passwd; touch /etc/new && echo ok`})
	want := "root:root 755 /\nroot:root 755 /etc\nroot:root 755 /usr/lib\nroot:root 644 /etc/passwd\nok\n"
	if got := string(r.Stdout); got != want {
		t.Errorf("got\n%s\nwant\n%s\nstderr: %s", got, want, r.Stderr)
	}
}

func TestWritableRootHidesHostPaths(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `grep ' / / ' /proc/self/mountinfo`})
	line := string(r.Stdout)
	if !strings.Contains(line, " - overlay ") {
		t.Fatalf("the root is not an overlay: %q (stderr %s)", line, r.Stderr)
	}
	// Its options name the layers relative to the run's own directory.
	for _, host := range []string{d.state, "/var/lib", "/run", "/tmp", "images", "trees"} {
		if strings.Contains(line, host) {
			t.Errorf("the root's mount shows host path %q: %s", host, line)
		}
	}
	// Nor do the /ATO files' bind mounts name where the daemon keeps them,
	// or where atod-init and the static Bash were installed (issue 10).
	r = execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `cat /proc/self/mountinfo`})
	for _, host := range []string{d.state, binDir, "bash-static", "/usr/bin", "/bin/"} {
		if strings.Contains(string(r.Stdout), host) {
			t.Errorf("the run's mount table shows host path %q:\n%s", host, r.Stdout)
		}
	}
}

func TestWritableRootFillsUp(t *testing.T) {
	d := startDaemon(t, daemonOptions{args: []string{"--root-mib", "32"}})
	needImageOwnership(t, d)
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `
		head -c 64M /dev/zero > /big; echo "rc=$?"
		echo small > /etc/small || echo full
		rm /big && echo small > /etc/small && cat /etc/small`})
	out := string(r.Stdout)
	if !strings.Contains(out, "rc=1\n") || !strings.Contains(string(r.Stderr), "No space left on device") || !strings.HasSuffix(out, "small\n") {
		t.Errorf("filling the root: stdout %q, stderr %q; want ENOSPC, then room again once removed", out, r.Stderr)
	}
	if status(r) != "exited/0" || r.TimedOut {
		t.Errorf("status %s, timed out %v", status(r), r.TimedOut)
	}
	// The daemon carries on.
	if r := execute(t, d, job{language: "bash", code: "echo alive", timeout: scaledTimeout(10)}); string(r.Stdout) != "alive\n" {
		t.Errorf("after a full root: %q", r.Stdout)
	}
	assertNoLeftovers(t, d)
}

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	var ma, mi int
	if _, err := fmt.Sscanf(b.String(), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", b.String(), err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestWritableRootKeepsProtections checks what a writable root must not
// loosen: the masked and read-only /proc paths, no sysfs, the read-only
// runner contract files, a /dev of a few nodes that no run can add to,
// and no way to undo the mounts.
func TestWritableRootKeepsProtections(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `
		for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
			printf '%s:%s\n' "$f" "$(head -c 16 "$f" 2>/dev/null | wc -c)"
		done
		echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo proc-sys-ro
		echo h > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro
		grep -c ' - sysfs ' /proc/self/mountinfo
		ls /sys | wc -l
		mknod /dev/sda b 8 0 2>/dev/null || echo no-mknod
		mknod /tmp/null c 1 3 2>/dev/null || echo no-mknod-tmp
		ls /dev | grep -vx core | tr '\n' ' '; echo # core: /proc/kcore's link, where the kernel has it
		echo x > /ATO/code 2>/dev/null || echo code-ro
		umount /ATO/code 2>/dev/null || echo no-umount
		mount -o remount,rw /proc/sys 2>/dev/null || echo no-remount
		echo ok > /dev/null && echo dev-null-ok
		head -c 1M /dev/zero > /dev/big 2>/dev/null || echo dev-full
		for i in $(seq 300); do : > /dev/f$i 2>/dev/null || { echo dev-inodes; break; }; done`})
	want := "/proc/kcore:0\n/proc/keys:0\n/proc/timer_list:0\n/proc/sched_debug:0\n" +
		"proc-sys-ro\nsysrq-ro\n0\n0\nno-mknod\nno-mknod-tmp\n" +
		"fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n" +
		"code-ro\nno-umount\nno-remount\ndev-null-ok\ndev-full\ndev-inodes\n"
	if got := string(r.Stdout); got != want {
		t.Errorf("got\n%s\nwant\n%s\nstderr: %s", got, want, r.Stderr)
	}
}

// TestUsersStoreUnderRootDaemon: a store kept for a user (atod rootfs
// owner, what a rootless install makes) serves a root daemon too: runs see
// the image's root files, stored as the user's, as root's, through their
// idmapped root.
func TestUsersStoreUnderRootDaemon(t *testing.T) {
	atodtest.NeedRoot(t)
	if daemonUserFromEnv(t).rootless {
		t.Skip("a root daemon's test")
	}
	tree := filepath.Dir(testRootfsTree(t))
	store := newStoreDir(t)
	atodtest.MkdirAll(t, filepath.Join(store, "names"))
	atodtest.MkdirAll(t, filepath.Join(store, "trees"))
	if out, err := exec.Command("cp", "-a", tree, filepath.Join(store, "trees")).CombinedOutput(); err != nil {
		t.Fatalf("copying the debian-12 image: %v\n%s", err, out)
	}
	if err := os.Symlink("../trees/"+filepath.Base(tree), filepath.Join(store, "names", "debian-12")); err != nil {
		t.Fatal(err)
	}
	const owner = "4242:4243"
	if out, err := rootfsCmd(t, store, "owner", owner); err != nil || !strings.Contains(out, "(4242:4243)'s") {
		t.Fatalf("atod rootfs owner %s: %v\n%s", owner, err, out)
	}
	if out, err := rootfsCmd(t, store, "owner"); err != nil || !strings.Contains(out, "(4242:4243)'s: for a rootless daemon") {
		t.Errorf("atod rootfs owner: %v\n%s", err, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(store, "trees", filepath.Base(tree), "rootfs", "etc", "passwd"), &st); err != nil || st.Uid != 4242 || st.Gid != 4243 {
		t.Fatalf("the image's /etc/passwd in the user's store: %d:%d (%v), want 4242:4243", st.Uid, st.Gid, err)
	}

	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `stat -c '%U:%G %a %n' / /etc /etc/passwd; touch /etc/new && echo ok`})
	want := "root:root 755 /\nroot:root 755 /etc\nroot:root 644 /etc/passwd\nok\n"
	if got := string(r.Stdout); got != want {
		t.Errorf("got\n%s\nwant\n%s\nstderr: %s", got, want, r.Stderr)
	}
	// A user's store may not hold a run's own host ids.
	d.stop()
	out, code := atod(t, "serve", "--listen", "127.0.0.1:0", "--images", store, "--uid-base", "4242", "--state", daemonUser{}.stateDir(t))
	if code == 0 || !strings.Contains(out, "the image store's owner 4242:4243 is among the runs' host ids") {
		t.Errorf("serve with the store's owner among the runs' uids: exit %d\n%s", code, out)
	}
}
