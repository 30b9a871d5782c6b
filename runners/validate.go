package runners

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrInvalid is wrapped by the error of a catalogue that cannot be used:
// languages.json does not decode, or entries or scripts fail validation.
// The error's text lists every problem found and what to do about each.
var ErrInvalid = errors.New("invalid language catalogue")

// The problems validation finds. Each problem's error wraps one of these.
var (
	errBadID       = errors.New("invalid language id")
	errDuplicateID = errors.New("duplicate language id")
	errNoScript    = errors.New("no runner script")
	errNoEntry     = errors.New("no catalogue entry")
	errNotAFile    = errors.New("not a regular file")
	errEmptyScript = errors.New("empty runner script")
	errNoName      = errors.New("missing name")
	errNoImage     = errors.New("missing image")
	errBadURL      = errors.New("invalid url")
	errNoHello     = errors.New("missing hello-world case")
	errBadHello    = errors.New("invalid hello-world case")
)

// invalidError collects every problem of a catalogue, so that an operator
// can fix them in one go rather than one per restart.
type invalidError struct{ problems []error }

func (e *invalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v:", ErrInvalid)
	for _, p := range e.problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

func (e *invalidError) Unwrap() []error {
	return append([]error{ErrInvalid}, e.problems...)
}

// validate checks the entries against each other and against the scripts.
// It returns one error per problem, in a stable order.
func validate(entries []*entry, scripts map[string][]byte) []error {
	var problems []error
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.id] {
			problems = append(problems, fmt.Errorf("language %q: %w: keep one entry for it in %s",
				e.id, errDuplicateID, languagesFile))
			continue
		}
		seen[e.id] = true
		for _, check := range entryChecks {
			if err := check(e); err != nil {
				problems = append(problems, fmt.Errorf("language %q: %w", e.id, err))
			}
		}
		if _, ok := scripts[e.id]; !ok && checkID(e.id) == nil {
			problems = append(problems, fmt.Errorf("language %q: %w: add %s/%s or remove the entry from %s",
				e.id, errNoScript, scriptsDir, e.id, languagesFile))
		}
	}

	ids := make([]string, 0, len(scripts))
	for id := range scripts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !seen[id] {
			problems = append(problems, fmt.Errorf("%s/%s: %w: add an entry %q to %s or remove the script",
				scriptsDir, id, errNoEntry, id, languagesFile))
		}
		if len(bytes.TrimSpace(scripts[id])) == 0 {
			problems = append(problems, fmt.Errorf("%s/%s: %w: write the runner or remove the language",
				scriptsDir, id, errEmptyScript))
		}
	}
	return problems
}

// entryChecks are the checks of a single entry, each small and independent
// (after runc's libcontainer/configs/validate).
var entryChecks = []func(*entry) error{
	func(e *entry) error { return checkID(e.id) },
	checkName,
	checkImage,
	checkURL,
	checkHello,
}

// checkID accepts ids that are plain, visible file names: the id names the
// runner script, and clients send it verbatim.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", errBadID)
	case len(id) > 255:
		return fmt.Errorf("%w %.20q...: longer than 255 bytes", errBadID, id)
	case id[0] == '.':
		return fmt.Errorf("%w %q: must not start with a dot", errBadID, id)
	}
	for _, r := range id {
		if !isIDRune(r) {
			return fmt.Errorf("%w %q: use only ASCII letters, digits and _+.-", errBadID, id)
		}
	}
	return nil
}

func isIDRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("_+.-", r)
}

func checkName(e *entry) error {
	if strings.TrimSpace(e.Name) == "" {
		return fmt.Errorf(`%w: set "name" to the language's human-readable name`, errNoName)
	}
	return nil
}

func checkImage(e *entry) error {
	if strings.TrimSpace(e.Image) == "" {
		return fmt.Errorf(`%w: set "image" to the root filesystem image it runs in, e.g. "debian-12"`, errNoImage)
	}
	return nil
}

func checkURL(e *entry) error {
	if e.URL == "" {
		return nil
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf(`%w %q: give an absolute http(s) URL or leave "url" out`, errBadURL, e.URL)
	}
	return nil
}

func checkHello(e *entry) error {
	h := e.Hello
	if h == nil {
		return fmt.Errorf(`%w: add "hello": {"code", "input", "options", "arguments", "stdout"}`, errNoHello)
	}
	if h.Code == "" {
		return fmt.Errorf("%w: its code is empty", errBadHello)
	}
	// The wire refuses NUL bytes in options and arguments, and /ATO/options
	// and /ATO/arguments could not represent them.
	for _, s := range slices.Concat(h.Options, h.Arguments) {
		if strings.ContainsRune(s, 0) {
			return fmt.Errorf("%w: an option or argument contains a NUL byte", errBadHello)
		}
	}
	return nil
}
