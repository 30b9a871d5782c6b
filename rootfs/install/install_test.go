package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/rootfs/layer"
	"github.com/atod-project/atod/rootfs/layer/layertest"
)

// testImage is a three-layer image with whiteouts, an opaque directory and
// a hard link to a lower layer's file, and a config with Env and User.
func testImage(tb testing.TB, marker string) v1.Image {
	tb.Helper()
	l1 := layertest.Tar(tb,
		layertest.Dir("etc/"), layertest.File("etc/passwd", "root:x:0:0::/root:/bin/sh\nrunner:x:1000:1000::/home/runner:/bin/sh\n"),
		layertest.File("etc/group", "root:x:0:\nrunner:x:1000:\n"),
		layertest.Dir("usr/"), layertest.Dir("usr/bin/"), layertest.File("usr/bin/hello", "#!/ATO/bash\necho hello\n"),
		layertest.Dir("cache/"), layertest.File("cache/stale", "x"), layertest.File("gone", "x"),
	)
	l2 := layertest.Tar(tb,
		layertest.Whiteout("gone"), layertest.Dir("cache/"), layertest.Opaque("cache"), layertest.File("cache/fresh", "x"),
		layertest.Hardlink("usr/bin/hello-again", "usr/bin/hello"),
	)
	l3 := layertest.Tar(tb, layertest.File("marker", marker))
	img, err := mutate.AppendLayers(empty.Image, gzipLayer(tb, l1), gzipLayer(tb, l2), plainLayer(tb, l3))
	if err != nil {
		tb.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/usr/bin", "GREETING=hi"}, User: "runner", WorkingDir: "/home/runner"})
	if err != nil {
		tb.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

func gzipLayer(tb testing.TB, tarBytes []byte) v1.Layer {
	tb.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// plainLayer is an uncompressed layer (as some registries hold them).
func plainLayer(tb testing.TB, tarBytes []byte) v1.Layer {
	tb.Helper()
	return static.NewLayer(tarBytes, types.OCIUncompressedLayer)
}

// testRegistry serves a registry on loopback; wrap may intercept requests.
func testRegistry(tb testing.TB, wrap func(http.Handler) http.Handler) string {
	tb.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(tb testing.TB, ref string, img v1.Image) {
	tb.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		tb.Fatal(err)
	}
}

func checkTestTree(tb testing.TB, d *rootfs.Dir, imgName, marker string) image.Image {
	tb.Helper()
	img, err := d.Lookup(imgName)
	if err != nil {
		tb.Fatal(err)
	}
	tree := img.Path
	for _, gone := range []string{"gone", "cache/stale"} {
		if _, err := os.Lstat(filepath.Join(tree, gone)); err == nil {
			tb.Errorf("%s survived its whiteout", gone)
		}
	}
	for _, there := range []string{"cache/fresh", "usr/bin/hello", "ATO", "proc", "dev", "tmp"} {
		if _, err := os.Lstat(filepath.Join(tree, there)); err != nil {
			tb.Errorf("%s is missing: %v", there, err)
		}
	}
	a, _ := os.Stat(filepath.Join(tree, "usr/bin/hello"))
	b, _ := os.Stat(filepath.Join(tree, "usr/bin/hello-again"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		tb.Error("usr/bin/hello-again is not a hard link of usr/bin/hello")
	}
	if data, _ := os.ReadFile(filepath.Join(tree, "marker")); string(data) != marker {
		tb.Errorf("marker = %q, want %q", data, marker)
	}
	if !slices.Equal(img.Env, []string{"PATH=/usr/bin", "GREETING=hi", "HOME=/ATO/context"}) {
		tb.Errorf("Env = %q", img.Env)
	}
	if img.UID != 1000 || img.GID != 1000 || img.WorkingDir != "/home/runner" {
		tb.Errorf("user %d:%d, working dir %q; want 1000:1000 and /home/runner", img.UID, img.GID, img.WorkingDir)
	}
	return img
}

func TestPull(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	reg := testRegistry(t, nil)
	ref := reg + "/atod/test:v1"
	img := testImage(t, "v1")
	push(t, ref, img)
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()

	var updates []Update
	inst, err := Pull(context.Background(), w, ref, "test", Options{Progress: func(u Update) { updates = append(updates, u) }})
	if err != nil {
		t.Fatal(err)
	}
	got := checkTestTree(t, d, "test", "v1")
	cfgName, _ := img.ConfigName()
	digest, _ := img.Digest()
	if got.ID != cfgName.Hex || inst.Digest != digest.String() || inst.Reused {
		t.Errorf("installed %+v, want tree %s and digest %s", inst, cfgName.Hex, digest)
	}
	finished := 0
	for _, u := range updates {
		if u.Finished {
			finished++
			if u.Done == 0 || u.Layers != 3 {
				t.Errorf("finished update %+v", u)
			}
		}
	}
	if finished != 3 {
		t.Errorf("%d layers reported finished, want 3: %+v", finished, updates)
	}

	// The same image again is only renamed: nothing is downloaded.
	inst, err = Pull(context.Background(), w, ref, "test-too", Options{})
	if err != nil || !inst.Reused || inst.ID != got.ID {
		t.Errorf("second pull = %+v, %v; want the tree reused", inst, err)
	}

	// A new version under the same name replaces it, and the old tree,
	// still named test-too, stays.
	push(t, ref, testImage(t, "v2"))
	inst, err = Pull(context.Background(), w, ref, "test", Options{})
	if err != nil || inst.Previous != got.ID {
		t.Fatalf("pull of v2 = %+v, %v", inst, err)
	}
	checkTestTree(t, d, "test", "v2")
	checkTestTree(t, d, "test-too", "v1")
	assertEmptyWork(t, d.Root())
}

func TestImportDockerSave(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	path := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("example.org/atod/test:v1")
	if err := tarball.WriteToFile(path, tag, testImage(t, "saved")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	if _, err := Import(context.Background(), w, path, "", "saved", Options{}); err != nil {
		t.Fatal(err)
	}
	checkTestTree(t, d, "saved", "saved")
	assertEmptyWork(t, d.Root())
}

func TestImportOCILayout(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	amd := testImage(t, "amd64")
	arm := testImage(t, "arm64")
	if err := p.AppendImage(amd, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(arm, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := Import(context.Background(), w, dir, "", "layout-"+arch, Options{Platform: &v1.Platform{OS: "linux", Architecture: arch}}); err != nil {
			t.Fatal(err)
		}
		checkTestTree(t, d, "layout-"+arch, arch)
	}
	if _, err := Import(context.Background(), w, dir, "", "layout-s390x", Options{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}); err == nil {
		t.Error("import of a platform the layout lacks succeeded")
	}
	assertEmptyWork(t, d.Root())
}

// assertNothingInstalled checks that a failed install left no name, no tree
// and no work files.
func assertNothingInstalled(tb testing.TB, d *rootfs.Dir) {
	tb.Helper()
	entries, err := d.List()
	if err != nil || len(entries) != 0 {
		tb.Errorf("store holds %+v (%v) after a failed install", entries, err)
	}
	names, _ := os.ReadDir(filepath.Join(d.Root(), "names"))
	if len(names) != 0 {
		tb.Errorf("names left: %v", names)
	}
	assertEmptyWork(tb, d.Root())
}

func TestPullErrors(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	var corrupt, refuse atomic.Bool
	reg := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			if corrupt.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				body := rec.Body.Bytes()
				if len(body) > 600 {
					body[len(body)/2] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ref := reg + "/atod/test:v1"
	push(t, ref, testImage(t, "v1"))

	for _, tc := range []struct {
		name, ref string
		setup     func()
		want      string
		wantErr   error
	}{
		{name: "unknown tag", ref: reg + "/atod/test:nope", want: "unknown image"},
		{name: "unknown repository", ref: reg + "/atod/nope:v1", want: "unknown image"},
		{name: "no registry", ref: "atod/test:v1", want: "names no registry"},
		{name: "refused", ref: ref, setup: func() { refuse.Store(true) }, want: "refused access"},
		{name: "digest mismatch", ref: ref, setup: func() { corrupt.Store(true) }, wantErr: ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refuse.Store(false)
			corrupt.Store(false)
			if tc.setup != nil {
				tc.setup()
			}
			d := openDir(t, t.TempDir())
			w := lock(t, d)
			defer w.Unlock()
			_, err := Pull(context.Background(), w, tc.ref, "test", Options{})
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Log(err)
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			assertNothingInstalled(t, d)
		})
	}
}

// TestPullInterrupted: a pull cancelled while a layer streams in leaves
// nothing. (One killed outright leaves a work directory the next writer
// removes: the store's TestKilledWriterLeavesWork.)
func TestPullInterrupted(t *testing.T) {
	img := bigImage(t)
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	configHex := cfg.Hex // the interrupting registry serves the config whole
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	reg := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") || strings.Contains(r.URL.Path, "sha256:"+configHex) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			select {
			case started <- struct{}{}:
			default:
			}
			select { // stall until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	defer close(release)
	ref := reg + "/atod/big:v1"
	push(t, ref, img)

	d := openDir(t, t.TempDir())
	w := lock(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// The registry has sent half the layer and holds the rest until
		// the client gives up: the pull is mid-download from here on.
		<-started
		cancel()
	}()
	_, err = Pull(ctx, w, ref, "big", Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	w.Unlock()
	assertNothingInstalled(t, d)
}

// bigImage has one layer of a few MiB, so that it streams in several reads.
func bigImage(tb testing.TB) v1.Image {
	tb.Helper()
	noise := make([]byte, 4<<20)
	for i := range noise {
		noise[i] = byte(i*7919 + i>>8)
	}
	img, err := mutate.AppendLayers(empty.Image, gzipLayer(tb, layertest.Tar(tb, layertest.File("noise", string(noise)))))
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// TestImportBomb: a small layer that unpacks past the budget is refused
// while it unpacks, and leaves nothing.
func TestImportBomb(t *testing.T) {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 256 << 20}); err != nil {
		t.Fatal(err)
	}
	for range 256 {
		tw.Write(zeros)
	}
	tw.Close()
	zw.Close()
	if gz.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", gz.Len())
	}
	bomb := static.NewLayer(gz.Bytes(), types.OCILayer)
	img, err := mutate.AppendLayers(empty.Image, bomb)
	if err != nil {
		t.Fatal(err)
	}
	// The config's diff id would be the uncompressed digest; the budget
	// stops the unpacking long before it is checked.
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	_, err = Import(context.Background(), w, dir, "", "bomb", Options{Budget: layer.Budget{Bytes: 16 << 20}})
	if !errors.Is(err, layer.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	t.Log(err)
	assertNothingInstalled(t, d)
}

// TestImportHostile: a hostile layer in a real image is refused through the
// whole install, which leaves nothing behind.
func TestImportHostile(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	outside := t.TempDir()
	hostile := layertest.Tar(t, layertest.Symlink("esc", outside), layertest.File("esc/pwned", "x"))
	img, err := mutate.AppendLayers(empty.Image, gzipLayer(t, hostile))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hostile.tar")
	tag, _ := name.NewTag("example.org/hostile:v1")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	_, err = Import(context.Background(), w, path, "", "hostile", Options{})
	if !errors.Is(err, layer.ErrHostile) {
		t.Fatalf("err = %v, want ErrHostile", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside: %v", entries)
	}
	assertNothingInstalled(t, d)
}

// TestImportNoSpace: a store whose file system fills up says so, and keeps
// nothing of the image.
func TestImportNoSpace(t *testing.T) {
	atodtest.NeedRoot(t) // it mounts a small file system
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=1m,mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(root, syscall.MNT_DETACH) })
	path := filepath.Join(t.TempDir(), "big.tar")
	tag, _ := name.NewTag("example.org/atod/big:v1")
	if err := tarball.WriteToFile(path, tag, bigImage(t)); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root)
	w := lock(t, d)
	defer w.Unlock()
	_, err := Import(context.Background(), w, path, "", "big", Options{})
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("err = %v, want it to say the store's file system is full", err)
	}
	t.Log(err)
	assertNothingInstalled(t, d)
}

// TestPullWithCredentials: a registry that wants a login gets the one in
// the Docker config ($DOCKER_CONFIG/config.json).
func TestPullWithCredentials(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	const user, pass = "atod", "s3cret"
	reg := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ref := reg + "/atod/test:v1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, testImage(t, "v1"), remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := Pull(context.Background(), w, ref, "test", Options{}); err == nil || !strings.Contains(err.Error(), "refused access") {
		t.Fatalf("pull without credentials: %v, want refused access", err)
	}
	cfg := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	atodtest.WriteFile(t, cfg, `{"auths": {"`+reg+`": {"auth": "`+auth+`"}}}`)
	if _, err := Pull(context.Background(), w, ref, "test", Options{}); err != nil {
		t.Fatalf("pull with credentials in %s: %v", cfg, err)
	}
	checkTestTree(t, d, "test", "v1")
}

// TestImportOCIArchive: an OCI layout in a tar file imports like the
// directory; the archive may hold nothing but the layout's regular files.
func TestImportOCIArchive(t *testing.T) {
	atodtest.NeedRoot(t) // it sets owners or mounts
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(testImage(t, "archived")); err != nil {
		t.Fatal(err)
	}
	archive := func(extra ...layertest.Entry) string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(dir, path)
			if err != nil || rel == "." {
				return err
			}
			data, _ := os.ReadFile(path)
			hdr := &tar.Header{Name: "./" + rel, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}
			if e.IsDir() {
				hdr = &tar.Header{Name: "./" + rel + "/", Typeflag: tar.TypeDir, Mode: 0o755}
			}
			tw.WriteHeader(hdr)
			if !e.IsDir() {
				tw.Write(data)
			}
			return nil
		})
		for _, e := range extra {
			tw.WriteHeader(&tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: e.Mode})
		}
		tw.Close()
		path := filepath.Join(t.TempDir(), "image.oci.tar")
		atodtest.WriteFile(t, path, buf.String())
		return path
	}
	d := openDir(t, t.TempDir())
	w := lock(t, d)
	defer w.Unlock()
	if _, err := Import(context.Background(), w, archive(), "", "archived", Options{}); err != nil {
		t.Fatal(err)
	}
	checkTestTree(t, d, "archived", "archived")
	assertEmptyWork(t, d.Root())

	_, err = Import(context.Background(), w, archive(layertest.Symlink("blobs/sha256/x", "/etc/passwd")), "", "linked", Options{})
	if !errors.Is(err, layer.ErrHostile) {
		t.Errorf("archive with a symlink: %v, want ErrHostile", err)
	}
	assertEmptyWork(t, d.Root())
}

// TestResolveUser: an image's User is resolved in its own /etc/passwd and
// /etc/group, by name or by number.
func TestResolveUser(t *testing.T) {
	tree := t.TempDir()
	atodtest.MkdirAll(t, filepath.Join(tree, "etc"))
	atodtest.WriteFile(t, filepath.Join(tree, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nrunner:x:1000:1000::/home:/bin/sh\n")
	if uid, gid, err := resolveUser(tree, "runner"); err != nil || uid != 1000 || gid != 1000 {
		t.Errorf("resolveUser(runner) = %d, %d, %v", uid, gid, err)
	}
	if uid, gid, err := resolveUser(tree, "1234:5"); err != nil || uid != 1234 || gid != 5 {
		t.Errorf("resolveUser(1234:5) = %d, %d, %v", uid, gid, err)
	}
	if _, _, err := resolveUser(tree, "nobody-here"); err == nil {
		t.Error("resolveUser of an unknown name succeeded")
	}
}

func openDir(tb testing.TB, root string) *rootfs.Dir {
	tb.Helper()
	d, err := rootfs.OpenDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func lock(tb testing.TB, d *rootfs.Dir) *rootfs.Writer {
	tb.Helper()
	w, err := d.TryLock()
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// assertEmptyWork checks that the store's work area holds nothing.
func assertEmptyWork(tb testing.TB, root string) {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(root, ".work"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		tb.Errorf("work area holds %v", entries)
	}
}
