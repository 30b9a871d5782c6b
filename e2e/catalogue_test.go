package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/runners"
)

// The catalogue tests run two cases of every language of atod's catalogue
// through a real daemon, in the full sandbox: the service's own hello world
// (testdata/service-hello.json), judged as the service judges it, and the
// language's hello case from runners/languages.json. Every language's image
// must be in the store ($ATOD_IMAGES, else atod's default): one missing is
// a failure, not a skip, since building the images is CI's job. While
// developing, ATOD_LANGUAGES=id,id,... selects some languages.

// serviceHelloFile holds the service's hello-world cases: for each id,
// code, and optionally input and options; output is the exact stdout.
const serviceHelloFile = "testdata/service-hello.json"

type serviceHello struct {
	Code    string   `json:"code"`
	Input   string   `json:"input"`
	Options []string `json:"options"`
	Output  string   `json:"output"`
}

// serviceHellos reads serviceHelloFile: the service's case of each id.
func serviceHellos(t *testing.T) map[string]serviceHello {
	t.Helper()
	f, err := os.ReadFile(serviceHelloFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases map[string]serviceHello `json:"cases"`
	}
	if err := json.Unmarshal(f, &file); err != nil {
		t.Fatalf("%s: %v", serviceHelloFile, err)
	}
	return file.Cases
}

// catalogueLanguages is the catalogue's languages the tests cover: every
// one, or those ATOD_LANGUAGES names.
func catalogueLanguages(t *testing.T) []runners.Language {
	t.Helper()
	c, err := runners.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	all := c.All()
	want := os.Getenv("ATOD_LANGUAGES")
	if want == "" {
		return all
	}
	var langs []runners.Language
	for _, id := range strings.Split(want, ",") {
		l, ok := c.Lookup(strings.TrimSpace(id))
		if !ok {
			t.Fatalf("ATOD_LANGUAGES names %q, which the catalogue lacks", id)
		}
		langs = append(langs, l)
	}
	return langs
}

// servedLanguages starts a daemon and checks that it serves every one of
// langs: those it does not have an image missing, which fails the test.
func servedLanguages(t *testing.T, langs []runners.Language) (*daemon, []runners.Language) {
	t.Helper()
	d := startDaemon(t, daemonOptions{slots: 1})
	md := metadataJSON(t, d)
	var served []runners.Language
	for _, l := range langs {
		if _, ok := md[l.ID]; !ok {
			t.Errorf("%s is not served: its image %s is missing from the store (build it: atod rootfs build %s)",
				l.ID, l.Image, l.Image)
			continue
		}
		served = append(served, l)
	}
	return d, served
}

// runCase runs one request over the HTTP API, with the longest timeout, and
// logs what it cost.
func runCase(t *testing.T, d *daemon, id string, req map[string]any) protocol.ExecuteResponse {
	t.Helper()
	req["language"] = id
	req["timeout"] = 60
	for k, empty := range map[string]any{"input": "", "options": []string{}, "arguments": []string{}} {
		if _, ok := req[k]; !ok {
			req[k] = empty
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r := executeJSON(t, d, string(body))
	t.Logf("%s: %d ms, peak memory %d MiB (largest process %d MiB)",
		id, r.Real/1e6, r.MemoryPeak>>20, r.MaxMem>>10)
	return r
}

// describe says what a run ended with, for a failure message.
func describe(r protocol.ExecuteResponse) string {
	return fmt.Sprintf("status %s/%d, timed out %v, OOM %v, stdout %q, stderr %q",
		r.StatusType, r.StatusValue, r.TimedOut, r.OOMKilled, r.Stdout, r.Stderr)
}

// TestCatalogueServiceHelloWorlds runs the service's hello world of every
// language and, as the service's own test suite does, compares stdout only
// (its objective_c_gcc case exits 14: main has no return).
func TestCatalogueServiceHelloWorlds(t *testing.T) {
	cases := serviceHellos(t)
	langs := catalogueLanguages(t)
	for _, l := range langs {
		if _, ok := cases[l.ID]; !ok {
			t.Errorf("%s has no case of the service's in %s", l.ID, serviceHelloFile)
		}
	}
	d, served := servedLanguages(t, langs)
	for _, l := range served {
		c, ok := cases[l.ID]
		if !ok {
			continue
		}
		t.Run(l.ID, func(t *testing.T) {
			req := map[string]any{"code": c.Code, "input": c.Input}
			if c.Options != nil {
				req["options"] = c.Options
			}
			r := runCase(t, d, l.ID, req)
			if string(r.Stdout) != c.Output {
				t.Errorf("stdout %q, want %q (%s)", r.Stdout, c.Output, describe(r))
			}
		})
	}
	assertNoLeftovers(t, d)
}

// TestCatalogueHelloCases runs every language's own hello case, which
// exercises its runner's handling of input, options and arguments: exact
// stdout and exit status 0.
func TestCatalogueHelloCases(t *testing.T) {
	d, served := servedLanguages(t, catalogueLanguages(t))
	for _, l := range served {
		t.Run(l.ID, func(t *testing.T) {
			h := l.Hello
			r := runCase(t, d, l.ID, map[string]any{
				"code": h.Code, "input": h.Input,
				"options": append([]string{}, h.Options...), "arguments": append([]string{}, h.Arguments...),
			})
			if string(r.Stdout) != h.Stdout || r.StatusType != "exited" || r.StatusValue != 0 {
				t.Errorf("want stdout %q and exit 0; got %s", h.Stdout, describe(r))
			}
		})
	}
	assertNoLeftovers(t, d)
}

// TestCatalogueServiceCasesCoverCatalogue keeps the two lists together: a
// language added to the catalogue gets the service's case too, and a case
// left over names a language atod serves.
func TestCatalogueServiceCasesCoverCatalogue(t *testing.T) {
	cases := serviceHellos(t)
	var ids, caseIDs []string
	for _, l := range embeddedLanguages(t) {
		ids = append(ids, l.ID)
	}
	for id := range cases {
		caseIDs = append(caseIDs, id)
	}
	slices.Sort(ids)
	slices.Sort(caseIDs)
	if !slices.Equal(ids, caseIDs) {
		t.Errorf("catalogue %v\nservice cases %v", ids, caseIDs)
	}
}

// The metadata endpoint lists exactly the languages whose image the store
// holds: with only the default image, the catalogue's languages in it and
// no other; and a request for a language whose image is missing is
// refused as one the server does not have, as the service refuses an
// unknown id.
func TestMetadataListsInstalledImagesOnly(t *testing.T) {
	store := linkedStore(t) // debian-12 alone
	d := startDaemon(t, daemonOptions{args: []string{"--images", store}})
	var want, missing []string
	for _, l := range embeddedLanguages(t) {
		if l.Image == "debian-12" {
			want = append(want, l.ID)
		} else {
			missing = append(missing, l.ID)
		}
	}
	if len(want) == 0 || len(missing) == 0 {
		t.Fatalf("the catalogue has %d languages in debian-12 and %d elsewhere: nothing to tell apart", len(want), len(missing))
	}
	var got []string
	for id := range metadataJSON(t, d) {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("metadata lists %v, want the languages of debian-12: %v", got, want)
	}
	for _, id := range missing {
		o := send(t, d, websocket.MessageBinary, job{language: id, code: "x"}.encode(t))
		if want := "invalid request: no such language: " + id; o.code != websocket.StatusPolicyViolation || o.reason != want {
			t.Errorf("a request for %s: close %d %q, want 1008 %q", id, o.code, o.reason, want)
		}
	}
}
