package runners

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The languages every atod build must offer (ATO's ids).
var coreIDs = []string{"bash", "c_gcc", "python", "zsh"}

func TestEmbedded(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	all := c.All()
	var ids []string
	for _, l := range all {
		ids = append(ids, l.ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("All() not sorted by ID: %v", ids)
	}
	for _, id := range coreIDs {
		if !slices.Contains(ids, id) {
			t.Errorf("embedded catalogue lacks %q (has %v)", id, ids)
		}
	}
	// Languages whose programs take no arguments of their own: their
	// runners pass the arguments as files or not at all.
	noArguments := []string{"bc", "brainfuck", "dc", "pari_gp", "tex", "yq"}
	for _, l := range all {
		// Every image a language names has a recipe atod builds.
		if _, err := os.Stat(filepath.Join("..", "rootfs", "recipes", l.Image)); err != nil {
			t.Errorf("%s: image %q has no recipe in rootfs/recipes: %v", l.ID, l.Image, err)
		}
		// se_class may be empty: the service publishes none for some ids.
		if l.URL == "" || l.Name == "" {
			t.Errorf("%s: incomplete metadata: %+v", l.ID, l)
		}
		// The version served is the image's, which its recipe prints: no
		// second copy typed by hand to drift from it.
		if l.Version != "" {
			t.Errorf("%s: languages.json gives version %q: remove it; the image records its version", l.ID, l.Version)
		}
		if ids, err := recipeVersionIDs(filepath.Join("..", "rootfs", "recipes", l.Image)); err != nil {
			t.Error(err)
		} else if !slices.Contains(ids, l.ID) {
			t.Errorf("%s: recipe rootfs/recipes/%s has no line 'version %s COMMAND' to record its version", l.ID, l.Image, l.ID)
		}
		wantArgs := !slices.Contains(noArguments, l.ID)
		if l.Hello.Stdout == "" || len(l.Hello.Options) == 0 || wantArgs && len(l.Hello.Arguments) == 0 || l.Hello.Input == "" {
			t.Errorf("%s: hello case should exercise input, options and arguments and print something: %+v", l.ID, l.Hello)
		}
		s, ok := c.Script(l.ID)
		if !ok {
			t.Errorf("%s: no script", l.ID)
			continue
		}
		// exec: the run's status must be the program's own (killed/15, not 143).
		for _, want := range []string{"/ATO/code", "/ATO/options", "/ATO/arguments", "/ATO/input", "exec /ATO/yargs"} {
			if !bytes.Contains(s, []byte(want)) {
				t.Errorf("%s: runner does not use %s", l.ID, want)
			}
		}
	}
}

// recipeVersionIDs returns the language ids of the version lines of a
// recipe, "version ID COMMAND" (rootfs/debian/build-tree.sh parses them).
func recipeVersionIDs(recipe string) ([]string, error) {
	data, err := os.ReadFile(recipe)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "version" {
			ids = append(ids, f[1])
		}
	}
	return ids, nil
}

// serviceMetadataFile holds the service's metadata (name, url, sbcs,
// se_class) of every id atod serves, as its languages.json publishes it.
const serviceMetadataFile = "testdata/service-metadata.json"

// TestEmbeddedMetadata checks that every language's metadata is the
// service's for its id, and that the catalogue serves exactly the ids the
// stored copy has.
func TestEmbeddedMetadata(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(serviceMetadataFile)
	if err != nil {
		t.Fatal(err)
	}
	var service struct {
		Languages map[string]struct {
			Name    string  `json:"name"`
			URL     string  `json:"url"`
			SBCS    bool    `json:"sbcs"`
			SEClass *string `json:"se_class"` // nil: the service gives none
		} `json:"languages"`
	}
	if err := json.Unmarshal(data, &service); err != nil {
		t.Fatalf("parsing %s: %v", serviceMetadataFile, err)
	}
	for _, l := range c.All() {
		s, ok := service.Languages[l.ID]
		if !ok {
			t.Errorf("%s: not in %s", l.ID, serviceMetadataFile)
			continue
		}
		// atod omits an empty se_class, so the service's must be absent.
		seClass := ""
		if s.SEClass != nil {
			seClass = *s.SEClass
		}
		if l.Name != s.Name || l.URL != s.URL || l.SBCS != s.SBCS || l.SEClass != seClass || s.SEClass != nil && seClass == "" {
			t.Errorf("%s: name %q, url %q, sbcs %v, se_class %q; the service's: %q, %q, %v, %q (present: %v)",
				l.ID, l.Name, l.URL, l.SBCS, l.SEClass, s.Name, s.URL, s.SBCS, seClass, s.SEClass != nil)
		}
	}
	for id := range service.Languages {
		if _, ok := c.Lookup(id); !ok {
			t.Errorf("%s: in %s but not in the catalogue", id, serviceMetadataFile)
		}
	}
}

// TestEmbeddedScriptsParse checks every embedded runner with bash -n.
func TestEmbeddedScriptsParse(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this host")
	}
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.All() {
		s, _ := c.Script(l.ID)
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = bytes.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", l.ID, err, out)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "Python", "PYTHON", "python ", "../python", "scripts/python"} {
		if l, ok := c.Lookup(id); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", id, l)
		}
		if s, ok := c.Script(id); ok {
			t.Errorf("Script(%q) = %q, want not found", id, s)
		}
	}
}

// TestReturnsCopies checks that callers cannot change the catalogue through
// what it hands out.
func TestReturnsCopies(t *testing.T) {
	c := mustLoad(t, writeCatalogue(t, goodJSON, goodScripts))
	l, _ := c.Lookup("hello")
	l.Hello.Options[0] = "changed"
	l.Hello.Arguments[0] = "changed"
	for _, l := range c.All() {
		if l.ID == "hello" {
			l.Hello.Options[0] = "changed"
		}
	}
	s, _ := c.Script("hello")
	s[0] = 'X'

	l2, _ := c.Lookup("hello")
	if l2.Hello.Options[0] != "-e" || l2.Hello.Arguments[0] != "World" {
		t.Errorf("catalogue changed through a returned Language: %+v", l2.Hello)
	}
	if s2, _ := c.Script("hello"); s2[0] != '#' {
		t.Errorf("catalogue changed through a returned script: %q", s2)
	}
}

func TestLoadDir(t *testing.T) {
	dir := writeCatalogue(t, goodJSON, goodScripts)
	// Dot files are ignored: an editor's swap file must not break loading.
	writeFile(t, filepath.Join(dir, "scripts", ".hello.swp"), "junk")
	c := mustLoad(t, dir)

	want := Language{
		ID: "hello", Name: "Hello", Image: "debian-12", Version: "1",
		URL: "https://example.org", SEClass: "lang-sh",
		Hello: HelloCase{Code: "echo hi", Input: "in", Options: []string{"-e"},
			Arguments: []string{"World"}, Stdout: "hi\n"},
	}
	got, ok := c.Lookup("hello")
	if !ok || !equalLanguage(got, want) {
		t.Errorf("Lookup(hello) = %+v, %v; want %+v", got, ok, want)
	}
	if s, ok := c.Script("hello"); !ok || string(s) != goodScripts["hello"] {
		t.Errorf("Script(hello) = %q, %v", s, ok)
	}
	if got := c.All(); len(got) != 2 || got[0].ID != "a.b+c_d-e" || got[1].ID != "hello" {
		t.Errorf("All() = %+v", got)
	}
}

// TestLoadDirOptional checks that url and se_class may be left out.
func TestLoadDirOptional(t *testing.T) {
	dir := writeCatalogue(t, `{"x": {"name": "X", "image": "i", "hello": {"code": "c"}}}`,
		map[string]string{"x": "run\n"})
	l, ok := mustLoad(t, dir).Lookup("x")
	if !ok || l.URL != "" || l.SEClass != "" || l.Hello.Options != nil {
		t.Errorf("Lookup(x) = %+v, %v", l, ok)
	}
}

func TestLoadDirMissingFiles(t *testing.T) {
	t.Run("no dir", func(t *testing.T) {
		_, err := LoadDir(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("no languages.json", func(t *testing.T) {
		dir := writeCatalogue(t, goodJSON, goodScripts)
		os.Remove(filepath.Join(dir, languagesFile))
		_, err := LoadDir(dir)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), languagesFile) {
			t.Errorf("err = %v, want fs.ErrNotExist naming %s", err, languagesFile)
		}
	})
	t.Run("no scripts dir", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, languagesFile), goodJSON)
		_, err := LoadDir(dir)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestLoadDirInvalid(t *testing.T) {
	const entryX = `"x": {"name": "X", "image": "i", "hello": {"code": "c"}}`
	for _, tc := range []struct {
		name    string
		json    string
		scripts map[string]string
		want    []error // every problem that must be reported
	}{
		{"script without entry", `{` + entryX + `}`,
			map[string]string{"x": "run", "y": "run"}, []error{errNoEntry}},
		{"entry without script", `{` + entryX + `, "y": {"name": "Y", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run"}, []error{errNoScript}},
		{"bad id in json", `{"a/b": {"name": "X", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{}, []error{errBadID}},
		{"bad id in scripts", `{` + entryX + `}`,
			map[string]string{"x": "run", "x y": "run"}, []error{errBadID}},
		{"empty id", `{"": {"name": "X", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{}, []error{errBadID}},
		{"dot id", `{".x": {"name": "X", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{}, []error{errBadID}},
		{"non-ASCII id", `{"pythön": {"name": "X", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{"pythön": "run"}, []error{errBadID}},
		{"duplicate id", `{` + entryX + `, ` + entryX + `}`,
			map[string]string{"x": "run"}, []error{errDuplicateID}},
		{"missing name", `{"x": {"image": "i", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run"}, []error{errNoName}},
		{"blank name", `{"x": {"name": " ", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run"}, []error{errNoName}},
		{"missing image", `{"x": {"name": "X", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run"}, []error{errNoImage}},
		{"relative url", `{"x": {"name": "X", "image": "i", "url": "www.python.org", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run"}, []error{errBadURL}},
		{"missing hello", `{"x": {"name": "X", "image": "i"}}`,
			map[string]string{"x": "run"}, []error{errNoHello}},
		{"empty hello code", `{"x": {"name": "X", "image": "i", "hello": {"stdout": "1"}}}`,
			map[string]string{"x": "run"}, []error{errBadHello}},
		{"NUL in hello argument", `{"x": {"name": "X", "image": "i", "hello": {"code": "c", "arguments": ["a\u0000b"]}}}`,
			map[string]string{"x": "run"}, []error{errBadHello}},
		{"empty script", `{` + entryX + `}`,
			map[string]string{"x": " \n"}, []error{errEmptyScript}},
		{"several at once", `{"x": {"image": "i"}, "z": {"name": "Z", "image": "i", "hello": {"code": "c"}}}`,
			map[string]string{"x": "run", "y": "run"}, []error{errNoName, errNoHello, errNoEntry, errNoScript}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCatalogue(t, tc.json, tc.scripts)
			_, err := LoadDir(dir)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("err = %v\nwant it to report %q", err, want)
				}
			}
			t.Log(err)
		})
	}
}

func TestLoadDirScriptNotAFile(t *testing.T) {
	dir := writeCatalogue(t, goodJSON, goodScripts)
	if err := os.Mkdir(filepath.Join(dir, "scripts", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, errNotAFile) {
		t.Errorf("err = %v, want ErrInvalid and errNotAFile", err)
	}
}

func TestLoadDirBadJSON(t *testing.T) {
	for name, doc := range map[string]string{
		"syntax":        `{"x": {`,
		"not an object": `["x"]`,
		"unknown field": `{"x": {"name": "X", "image": "i", "imgae": "j", "hello": {"code": "c"}}}`,
		"wrong type":    `{"x": {"name": "X", "image": "i", "sbcs": "no", "hello": {"code": "c"}}}`,
		"trailing data": `{"x": {"name": "X", "image": "i", "hello": {"code": "c"}}} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadDir(writeCatalogue(t, doc, map[string]string{"x": "run"}))
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			t.Log(err)
		})
	}
}

const goodJSON = `{
  "hello": {
    "name": "Hello", "image": "debian-12", "version": "1", "url": "https://example.org",
    "sbcs": false, "se_class": "lang-sh",
    "hello": {"code": "echo hi", "input": "in", "options": ["-e"], "arguments": ["World"], "stdout": "hi\n"}
  },
  "a.b+c_d-e": {"name": "Odd", "image": "other", "sbcs": true, "hello": {"code": "x"}}
}`

var goodScripts = map[string]string{
	"hello":     "#!/bin/bash\n/ATO/yargs %1 /ATO/options bash %1 /ATO/code\n",
	"a.b+c_d-e": "#!/bin/bash\ntrue\n",
}

// writeCatalogue lays out a catalogue in a new temporary directory.
func writeCatalogue(tb testing.TB, languagesJSON string, scripts map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	writeFile(tb, filepath.Join(dir, languagesFile), languagesJSON)
	if err := os.Mkdir(filepath.Join(dir, scriptsDir), 0o755); err != nil {
		tb.Fatal(err)
	}
	for id, s := range scripts {
		writeFile(tb, filepath.Join(dir, scriptsDir, id), s)
	}
	return dir
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func mustLoad(tb testing.TB, dir string) *Catalogue {
	tb.Helper()
	c, err := LoadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func equalLanguage(a, b Language) bool {
	ha, hb := a.Hello, b.Hello
	return a.ID == b.ID && a.Name == b.Name && a.Image == b.Image && a.Version == b.Version &&
		a.URL == b.URL && a.SBCS == b.SBCS && a.SEClass == b.SEClass &&
		ha.Code == hb.Code && ha.Input == hb.Input && ha.Stdout == hb.Stdout &&
		slices.Equal(ha.Options, hb.Options) && slices.Equal(ha.Arguments, hb.Arguments)
}
