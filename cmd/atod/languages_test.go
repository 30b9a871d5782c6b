package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/runners"
)

// testCatalogue loads a catalogue of three languages: "ok" in the image
// "here", "gone" in "absent" and "sick" in "broken".
func testCatalogue(t testing.TB) *runners.Catalogue {
	t.Helper()
	const langs = `{
  "ok":   {"name": "OK Lang", "image": "here", "version": "1",
           "hello": {"code": "say hi", "input": "in\n", "options": ["-o", "x"], "arguments": ["a b"], "stdout": "Hello, World!\n"}},
  "gone": {"name": "Gone", "image": "absent", "version": "2",
           "hello": {"code": "x", "input": "", "options": [], "arguments": [], "stdout": "x"}},
  "sick": {"name": "Sick", "image": "broken", "version": "3",
           "hello": {"code": "x", "input": "", "options": [], "arguments": [], "stdout": "x"}}
}`
	cat, err := runners.LoadDir(atodtest.CatalogueDir(t, langs, "ok", "gone", "sick"))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// fakeStore holds the image "here", which recorded versions; "broken" fails
// as a damaged image does and every other name is missing.
type fakeStore struct{ versions map[string]string }

func (s fakeStore) Lookup(name string) (image.Image, error) {
	switch name {
	case "here":
		return image.Image{Name: name, Path: "/nonexistent/here/rootfs", Versions: s.versions}, nil
	case "broken":
		return image.Image{}, errors.New("decoding image.json: unexpected end of JSON input;\nrebuild the image")
	default:
		return image.Image{}, fmt.Errorf("looking up image %q: %w", name, image.ErrNotFound)
	}
}

func TestWriteLanguages(t *testing.T) {
	avail := availabilities(testCatalogue(t), fakeStore{})

	var b bytes.Buffer
	if err := writeLanguages(&b, avail, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[0] != "ID" || strings.Join(strings.Fields(lines[1]), " ") != "ok OK Lang 1 here" {
		t.Errorf("runnable languages:\n%s", b.String())
	}

	b.Reset()
	if err := writeLanguages(&b, avail, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "STATUS") {
		t.Fatalf("--all: want a header and 3 rows:\n%s", out)
	}
	for _, want := range []string{
		"gone  Gone     2        absent  image missing: " + rootfs.FetchHint("absent"),
		"ok    OK Lang  1        here    runnable",
		"sick  Sick     3        broken  image unreadable: decoding image.json: unexpected end of JSON input; rebuild the image",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("--all lacks the row %q:\n%s", want, out)
		}
	}
}

// TestLanguagesShowImageVersions: the version listed is the one the image
// recorded, not the catalogue's, as in the metadata.
func TestLanguagesShowImageVersions(t *testing.T) {
	avail := availabilities(testCatalogue(t), fakeStore{versions: map[string]string{"ok": "1.2.3", "gone": "9"}})
	var b bytes.Buffer
	if err := writeLanguages(&b, avail, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for _, want := range []string{"ok OK Lang 1.2.3 here runnable", "gone Gone 2 absent image missing:"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(strings.Join(strings.Fields(l), " "), want) }) {
			t.Errorf("lacks a row starting %q:\n%s", want, b.String())
		}
	}
}

func TestLanguagesRefusesStrayArguments(t *testing.T) {
	// "verify" must come first; after a flag it is a stray argument.
	err := languages(t.Context(), []string{"--all", "verify"}, "")
	var code exitCode
	if !errors.As(err, &code) || code != 2 {
		t.Errorf("languages --all verify = %v, want exit code 2", err)
	}
}
