package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/runners"
)

// atodLanguages runs `atod languages ARGS` (ARGS may start with "verify"),
// on the images of $ATOD_IMAGES unless ARGS name others, and returns its
// standard output, standard error and exit code.
func atodLanguages(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	all := []string{"languages"}
	if len(args) > 0 && args[0] == "verify" {
		all, args = append(all, "verify"), args[1:]
	}
	if img := os.Getenv("ATOD_IMAGES"); img != "" {
		// Flags given later override this one.
		all = append(all, "--images", img)
	}
	all = append(all, args...)
	cmd := exec.Command(filepath.Join(binDir, "atod"), all...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// verifyFlags are the flags verify runs with: a state directory and cgroup
// of its own, and the tests' run uids.
func verifyFlags(t *testing.T) []string {
	t.Helper()
	return []string{"--state", daemonUser{}.stateDir(t), "--cgroup-name", "atod-e2e-verify-" + randomHex(4),
		"--uid-base", fmt.Sprint(e2eUIDBase), "--timeout", "30"}
}

// tableRows maps the first column of a table's rows (its header left out)
// to the rest of the row, its cells joined by single spaces.
func tableRows(t *testing.T, table string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("no table with an ID header:\n%s", table)
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		id, rest, _ := strings.Cut(l, " ")
		rows[id] = strings.Join(strings.Fields(rest), " ")
	}
	return rows
}

// embeddedLanguages is atod's whole catalogue: `atod languages` and
// verify cover every language in it.
func embeddedLanguages(t *testing.T) []runners.Language {
	t.Helper()
	c, err := runners.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return c.All()
}

func TestLanguagesListsRunnableOnes(t *testing.T) {
	atodtest.NeedRoot(t)
	langs := embeddedLanguages(t)
	out, errOut, code := atodLanguages(t)
	if code != 0 {
		t.Fatalf("atod languages: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "STATUS") || errOut != "" {
		t.Errorf("with every image installed, atod languages has a status column or a warning:\n%s%s", out, errOut)
	}
	rows := tableRows(t, out)
	if len(rows) != len(langs) {
		t.Errorf("atod languages lists %d languages, want the catalogue's %d:\n%s", len(rows), len(langs), out)
	}
	for _, l := range langs {
		if !strings.HasSuffix(rows[l.ID], " "+l.Image) {
			t.Errorf("atod languages lacks %s in %s:\n%s", l.ID, l.Image, out)
		}
	}

	// With no image at all, no language is listed, and stderr says
	// where to look.
	empty := t.TempDir()
	out, errOut, code = atodLanguages(t, "--images", empty)
	if code != 0 || len(tableRows(t, out)) != 0 ||
		!strings.Contains(errOut, fmt.Sprintf("%d of %d language(s) cannot run", len(langs), len(langs))) ||
		!strings.Contains(errOut, "atod languages --all") {
		t.Errorf("with an empty image store: exit %d\n%s%s", code, out, errOut)
	}

	// --all says, for each, the command that installs its image.
	out, errOut, code = atodLanguages(t, "--all", "--images", empty)
	if code != 0 || !strings.Contains(out, "STATUS") {
		t.Fatalf("--all with an empty image store: exit %d\n%s%s", code, out, errOut)
	}
	rows = tableRows(t, out)
	for _, l := range langs {
		if want := fmt.Sprintf("%s image missing: atod rootfs build %s", l.Image, l.Image); !strings.HasSuffix(rows[l.ID], want) {
			t.Errorf("--all with an empty image store: %s is %q, want it to end %q", l.ID, rows[l.ID], want)
		}
	}

	out, errOut, code = atodLanguages(t, "--all")
	if code != 0 || errOut != "" {
		t.Fatalf("--all: exit %d\n%s%s", code, out, errOut)
	}
	rows = tableRows(t, out)
	for _, l := range langs {
		if !strings.HasSuffix(rows[l.ID], l.Image+" runnable") {
			t.Errorf("--all: %s is %q:\n%s", l.ID, rows[l.ID], out)
		}
	}
}

// passRow is a row of a check that passed: the result and the time.
var passRow = regexp.MustCompile(`^pass [0-9]+ ms$`)

func TestLanguagesVerifyPasses(t *testing.T) {
	atodtest.NeedRoot(t)
	out, errOut, code := atodLanguages(t, append([]string{"verify"}, verifyFlags(t)...)...)
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	rows := tableRows(t, out)
	langs := embeddedLanguages(t)
	if len(rows) != len(langs) {
		t.Errorf("verify checked %d languages, want every one of the catalogue's %d:\n%s", len(rows), len(langs), out)
	}
	for _, l := range langs {
		if !passRow.MatchString(rows[l.ID]) {
			t.Errorf("verify: %s is %q:\n%s\n%s", l.ID, rows[l.ID], out, errOut)
		}
	}

	out, errOut, code = atodLanguages(t, append([]string{"verify", "bash"}, verifyFlags(t)...)...)
	rows = tableRows(t, out)
	if code != 0 || len(rows) != 1 || !passRow.MatchString(rows["bash"]) {
		t.Errorf("verify bash: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLanguagesVerifyFails(t *testing.T) {
	atodtest.NeedRoot(t)
	out, errOut, code := atodLanguages(t, append([]string{"verify", "nosuchlang", "bash"}, verifyFlags(t)...)...)
	rows := tableRows(t, out)
	if code != 1 || rows["nosuchlang"] != "fail: unknown language -" || !passRow.MatchString(rows["bash"]) ||
		!strings.Contains(errOut, "1 of 2 language(s) failed") {
		t.Errorf("verify nosuchlang bash: exit %d\n%s%s", code, out, errOut)
	}

	flags := append(verifyFlags(t), "--images", t.TempDir())
	out, errOut, code = atodLanguages(t, append([]string{"verify", "bash"}, flags...)...)
	rows = tableRows(t, out)
	if code != 1 || rows["bash"] != "fail: image missing: atod rootfs build debian-12 -" {
		t.Errorf("verify bash with an empty image store: exit %d\n%s%s", code, out, errOut)
	}

	// No runnable language to verify is a failure too.
	out, errOut, code = atodLanguages(t, append([]string{"verify"}, flags...)...)
	if code != 1 || !strings.Contains(errOut, "no language can run") {
		t.Errorf("verify with an empty image store: exit %d\n%s%s", code, out, errOut)
	}
}

// writeCatalogue writes a language catalogue directory (for --runners) with
// languages in debian-12 whose runner scripts are the values of scripts and
// whose hello cases want "Hello, World!\n".
func writeCatalogue(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	var entries []string
	for id, script := range scripts {
		entries = append(entries, fmt.Sprintf(`%q: {"name": %q, "image": "debian-12", "version": "1",
			"hello": {"code": "x", "input": "Hello, World!\n", "options": [], "arguments": [], "stdout": "Hello, World!\n"}}`, id, id))
		if err := os.WriteFile(filepath.Join(dir, "scripts", id), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	langs := "{" + strings.Join(entries, ",\n") + "}"
	if err := os.WriteFile(filepath.Join(dir, "languages.json"), []byte(langs), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLanguagesVerifyFailingHelloCases(t *testing.T) {
	atodtest.NeedRoot(t)
	runnersDir := writeCatalogue(t, map[string]string{
		"echoes": "exec cat /ATO/input\n",
		"wrong":  "echo 'Goodbye, World!'\n",
		"exits":  "cat /ATO/input\nexit 3\n",
		"slow":   "sleep 30\n",
		"dumps":  "kill -SEGV $$\n",
	})
	args := append([]string{"verify"}, verifyFlags(t)...)
	out, errOut, code := atodLanguages(t, append(args, "--runners", runnersDir, "--timeout", "2")...)
	rows := tableRows(t, out)
	if code != 1 || !strings.Contains(errOut, "4 of 5 language(s) failed") {
		t.Errorf("verify: exit %d\n%s%s", code, out, errOut)
	}
	for id, want := range map[string]*regexp.Regexp{
		"echoes": passRow,
		"wrong":  regexp.MustCompile(`^fail: stdout "Goodbye, World!\\n" want "Hello, World!\\n" [0-9]+ ms$`),
		"exits":  regexp.MustCompile(`^fail: exit 3 [0-9]+ ms$`),
		"slow":   regexp.MustCompile(`^fail: timed out [0-9]+ ms$`),
		"dumps":  regexp.MustCompile(`^fail: (killed by|dumped core on) signal 11 [0-9]+ ms$`),
	} {
		if !want.MatchString(rows[id]) {
			t.Errorf("verify: %s is %q, want %v:\n%s\n%s", id, rows[id], want, out, errOut)
		}
	}
}

// TestRunsGetTheirBash: the daemon mounts atod-bash, make setup's musl
// build of Debian's Bash (scripts/build-bash), at /ATO/bash when it is
// beside the atod binary, and Debian's bash-static otherwise: a run's
// /ATO/bash is the one of those two the host has, byte for byte.
func TestRunsGetTheirBash(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	want := "/bin/bash-static"
	if st, err := os.Stat(filepath.Join(binDir, "atod-bash")); err == nil && st.Mode().IsRegular() {
		want = filepath.Join(binDir, "atod-bash")
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: `sha256sum < /ATO/bash`})
	if got, _, _ := strings.Cut(string(r.Stdout), " "); got != sum {
		t.Fatalf("/ATO/bash has sha256 %q, want %s's %s (stderr %q)", got, want, sum, r.Stderr)
	}
}
