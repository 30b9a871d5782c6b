package runners

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
)

// Language describes one language id of the catalogue.
type Language struct {
	ID      string // the file name of its runner script; what requests name
	Name    string // human-readable name
	Image   string // name of the root filesystem image it runs in
	Version string // served only where its image recorded none; may be empty
	URL     string // the language's home page
	SBCS    bool   // whether byte counters should count one byte per character
	SEClass string // StackExchange syntax-highlighting class; may be empty
	Hello   HelloCase
}

// HelloCase is a request that must print exactly Stdout when the language's
// runner is healthy. It exercises input, options and arguments, so it also
// tests how the runner passes them on.
type HelloCase struct {
	Code, Input string
	Options     []string
	Arguments   []string
	Stdout      string
}

// Catalogue is a validated set of languages and their runner scripts.
// It never changes after loading and is safe for concurrent use.
type Catalogue struct {
	langs   map[string]Language
	scripts map[string][]byte
	ids     []string // sorted
}

// File names of the catalogue layout, relative to its root.
const (
	languagesFile = "languages.json"
	scriptsDir    = "scripts"
)

//go:embed languages.json all:scripts
var embedded embed.FS

// Embedded returns the catalogue compiled into atod. It parses and validates
// the embedded files on every call (well under a millisecond), so callers
// load it once at start-up and keep the result.
func Embedded() (c *Catalogue, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("loading embedded language catalogue: %w", err)
		}
	}()
	return load(embedded)
}

// LoadDir reads a catalogue from dir, which holds languages.json and
// scripts/<id> as described in the package documentation. Names in scripts/
// starting with a dot (editor and VCS files) are ignored.
func LoadDir(dir string) (c *Catalogue, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("loading language catalogue from %s: %w", dir, err)
		}
	}()
	return load(os.DirFS(dir))
}

// Lookup returns the language with this id, case-sensitively. The returned
// value is a copy; changing it does not change the catalogue.
func (c *Catalogue) Lookup(id string) (Language, bool) {
	l, ok := c.langs[id]
	if !ok {
		return Language{}, false
	}
	return l.clone(), true
}

// Script returns a copy of the runner script of the language with this id.
func (c *Catalogue) Script(id string) ([]byte, bool) {
	s, ok := c.scripts[id]
	if !ok {
		return nil, false
	}
	return bytes.Clone(s), true
}

// All returns every language, sorted by ID. Every language listed has a
// script, and every script a language.
func (c *Catalogue) All() []Language {
	all := make([]Language, 0, len(c.ids))
	for _, id := range c.ids {
		all = append(all, c.langs[id].clone())
	}
	return all
}

func (l Language) clone() Language {
	l.Hello.Options = slices.Clone(l.Hello.Options)
	l.Hello.Arguments = slices.Clone(l.Hello.Arguments)
	return l
}

// load reads and validates the catalogue rooted at fsys.
func load(fsys fs.FS) (*Catalogue, error) {
	data, err := fs.ReadFile(fsys, languagesFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", languagesFile, err)
	}
	entries, err := decodeEntries(data)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %w", ErrInvalid, languagesFile, err)
	}
	scripts, problems, err := readScripts(fsys)
	if err != nil {
		return nil, err
	}
	problems = append(problems, validate(entries, scripts)...)
	if len(problems) > 0 {
		return nil, &invalidError{problems: problems}
	}

	c := &Catalogue{
		langs:   make(map[string]Language, len(entries)),
		scripts: scripts,
	}
	for _, e := range entries {
		c.langs[e.id] = e.language()
		c.ids = append(c.ids, e.id)
	}
	sort.Strings(c.ids)
	return c, nil
}

// readScripts reads every runner script under scripts/. Entries that are not
// regular files or have names that cannot be ids are problems, not errors,
// so that they are reported together with the rest.
func readScripts(fsys fs.FS) (map[string][]byte, []error, error) {
	dirents, err := fs.ReadDir(fsys, scriptsDir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", scriptsDir, err)
	}
	scripts := make(map[string][]byte, len(dirents))
	var problems []error
	for _, d := range dirents {
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := scriptsDir + "/" + name
		if err := checkID(name); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w; rename or remove the file", path, err))
			continue
		}
		// Stat rather than d.Type(): an operator may link scripts in.
		info, err := fs.Stat(fsys, path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if !info.Mode().IsRegular() {
			problems = append(problems, fmt.Errorf("%s: %w", path, errNotAFile))
			continue
		}
		s, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", path, err)
		}
		scripts[name] = s
	}
	return scripts, problems, nil
}

// entry is one language as languages.json spells it.
type entry struct {
	id      string
	Name    string      `json:"name"`
	Image   string      `json:"image"`
	Version string      `json:"version"`
	URL     string      `json:"url"`
	SBCS    bool        `json:"sbcs"`
	SEClass string      `json:"se_class"`
	Hello   *helloEntry `json:"hello"`
}

type helloEntry struct {
	Code      string   `json:"code"`
	Input     string   `json:"input"`
	Options   []string `json:"options"`
	Arguments []string `json:"arguments"`
	Stdout    string   `json:"stdout"`
}

func (e *entry) language() Language {
	l := Language{
		ID:      e.id,
		Name:    e.Name,
		Image:   e.Image,
		Version: e.Version,
		URL:     e.URL,
		SBCS:    e.SBCS,
		SEClass: e.SEClass,
	}
	if h := e.Hello; h != nil {
		l.Hello = HelloCase{
			Code:      h.Code,
			Input:     h.Input,
			Options:   slices.Clone(h.Options),
			Arguments: slices.Clone(h.Arguments),
			Stdout:    h.Stdout,
		}
	}
	return l
}

// decodeEntries decodes languages.json, an object from id to entry, in file
// order. It walks the object token by token because encoding/json silently
// keeps the last of duplicate keys, and a duplicated id is an operator's
// mistake to report. Unknown fields are rejected for the same reason.
func decodeEntries(data []byte) ([]*entry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var entries []*entry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		id, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("expected a language id, got %v", tok)
		}
		e := &entry{id: id}
		if err := dec.Decode(e); err != nil {
			return nil, fmt.Errorf("language %q: %w", id, err)
		}
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the top-level object")
	}
	return entries, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}
