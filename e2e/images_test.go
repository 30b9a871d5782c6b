package e2e

import (
	"archive/tar"
	"bufio"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
)

// The image tests pull a multi-layer image made from the test rootfs from a
// registry on loopback into a store of their own, and run programs in it
// through a daemon serving that store. The image's first layer is the whole
// debian-12 tree (zstd); the second whites out /etc/motd, makes
// /usr/share/doc opaque and hard-links python into /usr/local/bin; the
// third holds a marker file, "v1" or "v2". Its config sets an environment
// variable and runs as uid 1000.

// testRootfsTree is the installed debian-12 tree the tests build on.
func testRootfsTree(t testing.TB) string {
	t.Helper()
	tree, err := atodtest.InstalledImage("debian-12")
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// treeLayer writes dir as an uncompressed layer tar into file, with hard
// links as links.
func treeLayer(t testing.TB, dir, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	seen := map[[2]uint64]string{}
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		st := info.Sys().(*syscall.Stat_t)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = int(st.Uid), int(st.Gid), "", ""
		hdr.Format = tar.FormatPAX
		if info.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := seen[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[key] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// smallLayer is a layer of the given tar entries.
func smallLayer(t testing.TB, hdrs []*tar.Header, bodies map[string]string) v1.Layer {
	t.Helper()
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h.Size = int64(len(bodies[h.Name]))
		h.ModTime = time.Unix(1700000000, 0)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, bodies[h.Name])
	}
	tw.Close()
	data := buf.String()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageRegistry is a registry on loopback holding the test images.
type imageRegistry struct {
	host  string
	blobs string // its storage, removed after the tests (see removeSharedRegistry)
	srv   *httptest.Server
	// stall, when set, makes blob downloads send half their bytes and
	// then wait (for an interrupted pull); stalled is signalled then.
	stall   chan struct{}
	stalled chan struct{}
	mu      sync.Mutex
}

var (
	sharedRegistryOnce sync.Once
	sharedRegistry     *imageRegistry
	sharedRegistryErr  string
)

// testImages starts the registry (once per test binary) and pushes
// REGISTRY/atod/debian:v1 and :v2 to it.
func testImages(t *testing.T) *imageRegistry {
	t.Helper()
	sharedRegistryOnce.Do(func() {
		sharedRegistry, sharedRegistryErr = newImageRegistry(t)
	})
	if sharedRegistryErr != "" {
		t.Fatal(sharedRegistryErr)
	}
	return sharedRegistry
}

func newImageRegistry(t *testing.T) (*imageRegistry, string) {
	blobs, err := os.MkdirTemp("", "atod-e2e-registry-")
	if err != nil {
		return nil, err.Error()
	}
	fail := func(msg string) (*imageRegistry, string) {
		os.RemoveAll(blobs)
		return nil, msg
	}
	r := &imageRegistry{blobs: blobs, stalled: make(chan struct{}, 1)}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		stall := r.stall
		r.mu.Unlock()
		if stall == nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/") {
			reg.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if len(body) < 1<<20 { // the config and the small layers
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case r.stalled <- struct{}{}:
		default:
		}
		select {
		case <-stall:
		case <-req.Context().Done():
		}
	}))
	r.host, r.srv = strings.TrimPrefix(srv.URL, "http://"), srv
	// The registry lives as long as the test binary: later tests pull
	// from it too.

	base := filepath.Join(blobs, "base.tar")
	treeLayer(t, testRootfsTree(t), base)
	l1, err := tarball.LayerFromFile(base, tarball.WithCompression(compression.ZStd))
	if err != nil {
		return fail(err.Error())
	}
	python, err := filepath.EvalSymlinks(filepath.Join(testRootfsTree(t), "usr/bin/python3"))
	if err != nil {
		return fail(err.Error())
	}
	pythonRel, _ := filepath.Rel(testRootfsTree(t), python)
	l2 := smallLayer(t, []*tar.Header{
		{Name: "etc/.wh.motd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "usr/share/doc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/share/doc/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "usr/share/doc/atod-note", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "usr/local/bin/python-again", Typeflag: tar.TypeLink, Linkname: pythonRel},
	}, map[string]string{"usr/share/doc/atod-note": "pulled\n"})
	for _, version := range []string{"v1", "v2"} {
		l3 := smallLayer(t, []*tar.Header{{Name: "etc/atod-marker", Typeflag: tar.TypeReg, Mode: 0o644}},
			map[string]string{"etc/atod-marker": version})
		img, err := mutate.AppendLayers(empty.Image, l1, l2, l3)
		if err != nil {
			return fail(err.Error())
		}
		img, err = mutate.Config(img, v1.Config{
			Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "ATOD_IMAGE_MARK=pulled-" + version},
			User: "1000:1000",
		})
		if err != nil {
			return fail(err.Error())
		}
		ref, err := name.ParseReference(r.host + "/atod/debian:" + version)
		if err != nil {
			return fail(err.Error())
		}
		if err := remote.Write(ref, img); err != nil {
			return fail("pushing the test image: " + err.Error())
		}
	}
	os.Remove(base)
	return r, ""
}

// removeSharedRegistry stops the registry testImages started, if any, and
// removes its storage (TestMain calls it after the tests).
func removeSharedRegistry() {
	if sharedRegistry != nil {
		sharedRegistry.srv.Close()
		os.RemoveAll(sharedRegistry.blobs)
	}
}

func (r *imageRegistry) ref(tag string) string { return r.host + "/atod/debian:" + tag }

// rootfsCmd runs atod rootfs ... on store and returns its output.
func rootfsCmd(t *testing.T, store string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "atod"), append([]string{"rootfs"}, append(args, "--images", store)...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// newStoreDir is the path of a new image store (not made yet), in a
// directory the runs' unprivileged host uids can reach.
func newStoreDir(t *testing.T) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "images")
	for dir := filepath.Dir(store); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// pulledStore is a new image store holding REGISTRY/atod/debian:v1 as
// debian-12, the image of bash, c_gcc and zsh, and as each of names too
// (python's image, say: the debian-12 tree has python3, which python's
// runner runs, though not python's libraries).
func pulledStore(t *testing.T, reg *imageRegistry, names ...string) string {
	t.Helper()
	store := newStoreDir(t)
	for _, name := range append([]string{"debian-12"}, names...) {
		out, err := rootfsCmd(t, store, "pull", "--name", name, reg.ref("v1"))
		if err != nil {
			t.Fatalf("atod rootfs pull: %v\n%s", err, out)
		}
		t.Logf("atod rootfs pull:\n%s", out)
	}
	return store
}

func TestPulledImageRuns(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the pulled image runs as uid 1000, which a rootless sandbox cannot map")
	}
	reg := testImages(t)
	store := pulledStore(t, reg, "python")
	out, err := rootfsCmd(t, store, "list")
	if err != nil || !strings.Contains(out, "debian-12") || !strings.Contains(out, "pull "+reg.ref("v1")+"@sha256:") ||
		!strings.Contains(out, "python") {
		t.Errorf("atod rootfs list: %v\n%s", err, out)
	}

	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
	r := execute(t, d, job{language: "python", code: `import os
print(os.path.exists("/etc/motd"), os.listdir("/usr/share/doc"),
      os.stat("/usr/local/bin/python-again").st_ino == os.stat("/usr/bin/python3").st_ino,
      os.environ.get("ATOD_IMAGE_MARK"), os.getuid(), os.getgid(), open("/etc/atod-marker").read(),
      os.access("/ATO/context", os.W_OK), os.getcwd())
`})
	want := "False ['atod-note'] True pulled-v1 1000 1000 v1 True /ATO/context\n"
	if status(r) != "exited/0" || string(r.Stdout) != want {
		t.Errorf("in the pulled image: %s, stdout %q, want %q; stderr %q", status(r), r.Stdout, want, r.Stderr)
	}
	// The other languages run there too (as uid 1000).
	for _, lang := range []string{"bash", "c_gcc", "zsh"} {
		r := execute(t, d, job{language: lang, code: helloCode(lang)})
		if status(r) != "exited/0" || !strings.Contains(string(r.Stdout), "hi") {
			t.Errorf("%s in the pulled image: %s, stdout %q, stderr %q", lang, status(r), r.Stdout, r.Stderr)
		}
	}
	assertNoLeftovers(t, d)
}

func helloCode(lang string) string {
	if lang == "c_gcc" {
		return "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"
	}
	return "echo hi\n"
}

// TestReplaceImageWhileRunning: a run keeps the tree it started on when its
// image is replaced meanwhile; the next run gets the new tree; the old one
// is collected once the run is over.
func TestReplaceImageWhileRunning(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the pulled image runs as uid 1000, which a rootless sandbox cannot map")
	}
	reg := testImages(t)
	store := pulledStore(t, reg)
	// v2 is unpacked beforehand, so that replacing is only the renaming.
	if out, err := rootfsCmd(t, store, "pull", "--name", "staging", reg.ref("v2")); err != nil {
		t.Fatalf("pull v2: %v\n%s", err, out)
	}
	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})

	long := make(chan string, 1)
	go func() {
		r, err := executeErr(d, job{language: "bash", code: holdCode("replace") + "; cat /etc/atod-marker; ls /usr/share/doc; echo \" $ATOD_IMAGE_MARK\"", timeout: 60})
		if err != nil {
			long <- err.Error()
			return
		}
		long <- status(r) + " " + string(r.Stdout)
	}()
	// The run holds its tree until the image has been replaced.
	awaitHold(t, d, "replace")
	for _, args := range [][]string{
		{"pull", "--name", "debian-12", reg.ref("v2")},
		{"rm", "staging"},
	} {
		out, err := rootfsCmd(t, store, args...)
		if err != nil {
			t.Fatalf("atod rootfs %s: %v\n%s", args[0], err, out)
		}
		t.Logf("atod rootfs %s:\n%s", args[0], out)
		if args[0] == "pull" && !strings.Contains(out, "in use by runs") {
			t.Errorf("replacing the image in use did not leave its tree to the run:\n%s", out)
		}
	}
	r := execute(t, d, job{language: "bash", code: "cat /etc/atod-marker; echo \" $ATOD_IMAGE_MARK\""})
	if string(r.Stdout) != "v2 pulled-v2\n" {
		t.Errorf("a run after the replacement saw %q (%s), want the new image", r.Stdout, status(r))
	}
	release(t, d, "replace")
	if got := <-long; got != "exited/0 v1atod-note\n pulled-v1\n" {
		t.Errorf("the run across the replacement: %q; want exited/0 and the old image throughout", got)
	}
	// Its tree goes once the run is over.
	waitFor(t, "the old tree to be collected", func() bool {
		trees, _ := os.ReadDir(filepath.Join(store, "trees"))
		return len(trees) == 1
	})
	if out, _ := rootfsCmd(t, store, "list"); strings.Contains(out, "unnamed") {
		t.Errorf("an unnamed tree is left:\n%s", out)
	}

	// The daemon notices a removed image without a restart: its languages
	// leave the metadata and are refused.
	if out, err := rootfsCmd(t, store, "rm", "debian-12"); err != nil {
		t.Fatalf("atod rootfs rm: %v\n%s", err, out)
	}
	if md := metadataJSON(t, d); len(md) != 0 {
		t.Errorf("metadata after removing the image lists %v", md)
	}
	if o := send(t, d, websocket.MessageBinary, job{language: "bash", code: "true"}.encode(t)); o.code != websocket.StatusPolicyViolation {
		t.Errorf("a run after removing the image: %d %q, want a refusal", o.code, o.reason)
	}
}

// TestInterruptedPull: a pull stopped by a signal leaves no image, and one
// killed outright leaves only a work directory, which the daemon's next
// start removes.
func TestInterruptedPull(t *testing.T) {
	if daemonUserFromEnv(t).rootless {
		t.Skip("the store is root's")
	}
	reg := testImages(t)
	store := pulledStore(t, reg)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			release := make(chan struct{})
			reg.mu.Lock()
			reg.stall = release
			reg.mu.Unlock()
			defer func() {
				reg.mu.Lock()
				reg.stall = nil
				reg.mu.Unlock()
				close(release)
			}()
			cmd := exec.Command(filepath.Join(binDir, "atod"), "rootfs", "pull", "--images", store, "--name", "interrupted", reg.ref("v2"))
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reg.stalled:
			case <-time.After(timescale.D(60 * time.Second)):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the pull never reached the big layer:\n%s", out.String())
			}
			// The signal finds the install under way: its work
			// directory made, half the big layer in.
			waitFor(t, "the pull's work directory", func() bool {
				work, _ := os.ReadDir(filepath.Join(store, ".work"))
				return len(work) > 0
			})
			cmd.Process.Signal(sig)
			if err := cmd.Wait(); err == nil {
				t.Fatalf("the interrupted pull succeeded:\n%s", out.String())
			}
			t.Logf("interrupted pull:\n%s", out.String())
			if _, err := os.Lstat(filepath.Join(store, "names", "interrupted")); err == nil {
				t.Error("the interrupted pull installed its image")
			}
			work, _ := os.ReadDir(filepath.Join(store, ".work"))
			if sig == syscall.SIGINT && len(work) != 0 {
				t.Errorf("an interrupted pull left %v", work)
			}
			if sig == syscall.SIGKILL {
				if len(work) == 0 {
					t.Error("a killed pull left no work directory: the test shows nothing")
				}
				d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
				work, _ = os.ReadDir(filepath.Join(store, ".work"))
				if len(work) != 0 {
					t.Errorf("after the daemon's start, the work area holds %v", work)
				}
				r := execute(t, d, job{language: "bash", code: "cat /etc/atod-marker"})
				if string(r.Stdout) != "v1" {
					t.Errorf("the image in place is damaged: %q %s", r.Stdout, status(r))
				}
			}
			trees, _ := os.ReadDir(filepath.Join(store, "trees"))
			if len(trees) != 1 {
				t.Errorf("trees: %v, want only debian-12's", trees)
			}
		})
	}
}

// TestSIGHUPRechecksImages: a reload logs which languages can run and
// leaves the daemon serving.
func TestSIGHUPRechecksImages(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to log its recheck", func() bool {
		return strings.Contains(d.logs(), `"msg":"rechecked images","languages":4`)
	})
	r := execute(t, d, job{language: "bash", code: "echo still here"})
	if string(r.Stdout) != "still here\n" {
		t.Errorf("after SIGHUP: %s, stdout %q", status(r), r.Stdout)
	}
}
