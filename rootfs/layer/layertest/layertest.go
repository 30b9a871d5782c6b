// Package layertest builds image layers (uncompressed tar archives) for
// tests of the layer applier and of what installs images with it.
package layertest

import (
	"archive/tar"
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// Entry is one archive entry of a test layer.
type Entry struct {
	Name, Body, Link string
	Type             byte
	Mode             int64
	UID, GID         int
}

// Dir is a directory entry (name ends in "/" by convention).
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// File is a regular file holding body.
func File(name, body string) Entry {
	return Entry{Name: name, Body: body, Type: tar.TypeReg, Mode: 0o644}
}

// Symlink is a symbolic link to target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Link: target, Type: tar.TypeSymlink, Mode: 0o777}
}

// Hardlink is a hard link to the archive path target.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Link: target, Type: tar.TypeLink, Mode: 0o644}
}

// Whiteout removes name from lower layers (an OCI whiteout file).
func Whiteout(name string) Entry {
	return File(filepath.Join(filepath.Dir(name), ".wh."+filepath.Base(name)), "")
}

// Opaque empties dir of what lower layers put there (an OCI opaque marker).
func Opaque(dir string) Entry { return File(filepath.Join(dir, ".wh..wh..opq"), "") }

// Device is a device node of tar type typ (tar.TypeChar or tar.TypeBlock).
func Device(name string, typ byte) Entry { return Entry{Name: name, Type: typ, Mode: 0o666} }

// Tar is the uncompressed tar of entries, in order, in PAX format, each
// modified at the same fixed time.
func Tar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: e.Mode, Size: int64(len(e.Body)),
			Uid: e.UID, Gid: e.GID, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX,
		}
		if e.Type != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
