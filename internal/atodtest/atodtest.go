// Package atodtest holds the helpers that the tests of several packages
// share: hand-built msgpack request maps, the installed image the tests run
// in, the skip of tests that need root, waiting for a condition, files and
// catalogues, building atod's commands. Only tests import it. It imports
// msgp, internal/timescale and the standard library alone, so that the pure
// packages' tests (protocol's own included) can use it; the client side of
// the protocol is internal/testclient.
package atodtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/tinylib/msgp/msgp"
)

// NeedRoot skips the test unless it runs as root: the tests of the sandbox
// and of the daemon make namespaces, cgroups and mounts.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root")
	}
}

// ImageStore is the image store the tests run in: $ATOD_IMAGES, or the
// daemon's default.
func ImageStore() string {
	if s := os.Getenv("ATOD_IMAGES"); s != "" {
		return s
	}
	return "/var/lib/atod/images"
}

// InstalledImage is the root filesystem of the image installed as name in
// ImageStore (its names/name points at its tree).
func InstalledImage(name string) (string, error) {
	tree, err := filepath.EvalSymlinks(filepath.Join(ImageStore(), "names", name))
	if err != nil {
		return "", fmt.Errorf("no %s image in %s (run atod rootfs build %s): %w", name, ImageStore(), name, err)
	}
	return filepath.Join(tree, "rootfs"), nil
}

// Entry is one key of a request map and the msgpack of its value, so that a
// test can send any value, of any type, under any key.
type Entry struct {
	Key   string
	Value []byte // msgpack
}

// RawMap is a request map under construction, encoded key by key in order.
type RawMap []Entry

// Set returns m with key's value replaced, or appended when absent.
func (m RawMap) Set(key string, value []byte) RawMap {
	out := append(RawMap(nil), m...)
	for i := range out {
		if out[i].Key == key {
			out[i].Value = value
			return out
		}
	}
	return append(out, Entry{key, value})
}

// Del returns m without key.
func (m RawMap) Del(key string) RawMap {
	var out RawMap
	for _, e := range m {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}

// Bytes encodes m as a msgpack map.
func (m RawMap) Bytes() []byte {
	b := msgp.AppendMapHeader(nil, uint32(len(m)))
	for _, e := range m {
		b = msgp.AppendString(b, e.Key)
		b = append(b, e.Value...)
	}
	return b
}

// Padded is m's frame padded to exactly size bytes by the str16 value of an
// unknown key.
func (m RawMap) Padded(tb testing.TB, size int) []byte {
	tb.Helper()
	base := len(m.Set("padding", nil).Bytes())
	n := size - base - 3 // a str16 header is 3 bytes
	if n < 256 || n > 65535 {
		tb.Fatalf("cannot pad %d bytes to %d with a str16", base, size)
	}
	b := m.Set("padding", msgp.AppendString(nil, strings.Repeat("p", n))).Bytes()
	if len(b) != size {
		tb.Fatalf("padded request is %d bytes, want %d", len(b), size)
	}
	return b
}

// StrArray encodes an array of str.
func StrArray(ss ...string) []byte {
	b := msgp.AppendArrayHeader(nil, uint32(len(ss)))
	for _, s := range ss {
		b = msgp.AppendString(b, s)
	}
	return b
}

// RawArray encodes an array of msgpack values, each already encoded.
func RawArray(elems ...[]byte) msgp.Raw {
	b := msgp.AppendArrayHeader(nil, uint32(len(elems)))
	for _, e := range elems {
		b = append(b, e...)
	}
	return b
}

// ByteInts encodes s as the lax form of a binary that some clients send (a
// Python list(b"...") through msgpack, say): an array of its bytes, each in
// the smallest integer encoding (a positive fixint, or a uint8 from 128),
// or, when wide, as an int16, as clients with one integer type send them.
func ByteInts(s string, wide bool) msgp.Raw {
	b := msgp.AppendArrayHeader(nil, uint32(len(s)))
	for i := range len(s) {
		if wide {
			b = msgp.AppendInt16(b, int16(s[i]))
		} else {
			b = msgp.AppendUint8(b, s[i])
		}
	}
	return b
}

// HoldCode is shell code that holds its run until the test removes
// /tmp/name in it (RemoveInRoot): the run is then known to be in flight for
// as long as the test needs, however slow the machine.
func HoldCode(name string) string {
	return fmt.Sprintf("touch /tmp/%[1]s; while [ -e /tmp/%[1]s ]; do sleep 0.01; done", name)
}

// InRoot reports whether path exists in the root of one of the processes
// pids (a run's, as the host sees them through /proc).
func InRoot(pids []int, path string) bool {
	for _, pid := range pids {
		if _, err := os.Lstat(fmt.Sprintf("/proc/%d/root%s", pid, path)); err == nil {
			return true
		}
	}
	return false
}

// RemoveInRoot removes path, a file in a run's own /tmp, through the root
// of one of the processes pids, where root on the host sees the run's
// mounts. (It could not create one there: host root has no uid in the run's
// user namespace, which owns those tmpfs mounts, so that fails with
// EOVERFLOW.) The name must be the caller's own: a process that is not in
// the run, or is gone, finds nothing there.
func RemoveInRoot(pids []int, path string) error {
	var errs []error
	for _, pid := range pids {
		err := os.Remove(fmt.Sprintf("/proc/%d/root%s", pid, path))
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("removing %s in a run (processes %v): %w", path, pids, errors.Join(errs...))
}

// WaitFor polls cond every 10 ms until it holds, and fails the test when
// it has not after bound, stretched by timescale.
func WaitFor(tb testing.TB, bound time.Duration, what string, cond func() bool) {
	tb.Helper()
	bound = timescale.D(bound)
	for deadline := time.Now().Add(bound); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", bound, what)
		}
	}
}

// MkdirAll makes path and its missing parents (mode 0755).
func MkdirAll(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// WriteFile writes content to path (mode 0644).
func WriteFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// CatalogueDir makes a language catalogue directory (as runners.LoadDir
// reads): languagesJSON as languages.json and a runner script, `exec true`,
// for each of ids.
func CatalogueDir(tb testing.TB, languagesJSON string, ids ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	WriteFile(tb, filepath.Join(dir, "languages.json"), languagesJSON)
	MkdirAll(tb, filepath.Join(dir, "scripts"))
	for _, id := range ids {
		WriteFile(tb, filepath.Join(dir, "scripts", id), "exec true\n")
	}
	return dir
}

// Build builds atod's commands (atod, atod-init) from this
// checkout into a new directory, each as `make build` does: atod-init by the
// Makefile's own rule (`make init-binary`), atod with cgo and the
// seccomp tag. The directory is 0755, so that runs' users reach the
// binaries; the caller removes it.
func Build(commands ...string) (dir string, err error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module's directory: %w", err)
	}
	if dir, err = os.MkdirTemp("", "atod-bin-"); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	for _, name := range commands {
		out := filepath.Join(dir, name)
		var build *exec.Cmd
		if name == "atod-init" {
			build = exec.Command("make", "--no-print-directory", "-s", "-C", strings.TrimSpace(string(root)), "init-binary", "INIT_OUT="+out)
		} else {
			build = exec.Command("go", "build", "-tags", "seccomp", "-o", out, "github.com/atod-project/atod/cmd/"+name)
			build.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %w\n%s", name, err, out)
		}
	}
	return dir, nil
}

// SyncBuffer is a bytes.Buffer that a test may read while another goroutine
// writes to it (a process's output, a logger).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
