package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
)

// Several files (docs/api.md, "Files"): an extension of ours on the v1
// websocket and the HTTP API.

// TestFiles: a request's files are in the run's working directory, nested
// directories made, owned by the run's user, before the runner starts: a C
// program split over a header and two sources builds, a Python package
// imports, and the files may be changed.
func TestFiles(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	c := dialV1(t, d)

	frames := c.run(job{language: "c_gcc", timeout: scaledTimeout(60),
		code: "#include <stdio.h>\n#include \"util.h\"\nint main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n",
		// gcc looks for "util.h" beside /ATO/code, then where -I says:
		// the working directory, where the files are.
		options: []string{"-I.", "lib/util.c"},
		files: map[string]any{
			"util.h":     []byte("int twice(int x);\n"),
			"lib/util.c": []byte("#include \"util.h\"\nint twice(int x) { return 2 * x; }\n"),
		}})
	if out := string(joined(frames, "Stdout")); out != "42\n" || doneOf(frames).StatusType != "exited" {
		t.Errorf("C over a header and two sources: %q, stderr %q, %+v", out, joined(frames, "Stderr"), doneOf(frames))
	}

	frames = c.run(job{language: "python", timeout: scaledTimeout(30),
		// Python puts the program's directory, /ATO, on its path; the
		// package is in the working directory.
		code:  "import sys\nsys.path.insert(0, '')\nimport pkg.mod\nprint(pkg.mod.f(), pkg.__name__)\n",
		files: map[string]any{"pkg/__init__.py": []byte{}, "pkg/mod.py": []byte("def f():\n    return 42\n")}})
	if out := string(joined(frames, "Stdout")); out != "42 pkg\n" {
		t.Errorf("a Python package: %q, stderr %q", out, joined(frames, "Stderr"))
	}

	frames = c.run(job{language: "bash", timeout: scaledTimeout(30),
		code:  "pwd; stat -c '%U:%G %a %n' a a/b a/b/c.txt; cat a/b/c.txt; echo more >> a/b/c.txt && touch a/new && echo changed",
		files: map[string]any{"a/b/c.txt": "text\n"}})
	want := "/ATO/context\nroot:root 755 a\nroot:root 755 a/b\nroot:root 644 a/b/c.txt\ntext\nchanged\n"
	if out := string(joined(frames, "Stdout")); out != want {
		t.Errorf("the files' owners and modes: %q, want %q; stderr %q", out, want, joined(frames, "Stderr"))
	}

	// Over HTTP, as JSON.
	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(30*time.Second))
	defer cancel()
	body := `{"language": "bash", "code": "cat data/x", "input": "", "options": [], "arguments": [], "files": {"data/x": {"base64": "aGkK"}}}`
	resp, b, err := testclient.PostExecute(ctx, http.DefaultClient, "http://"+d.addr, "application/json", "", []byte(body))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), `"stdout":"hi\n"`) {
		t.Errorf("HTTP with files: %v %s", err, b)
	}
	assertNoLeftovers(t, d)
}

// TestFilesRefused: paths that would leave the working directory, and
// files it cannot hold, are refused before any run; the v0 endpoint skips
// the key.
func TestFilesRefused(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	many := map[string]any{} // a page each, and one for each directory
	for i := range 200 {
		many[fmt.Sprint("d", i, "/f")] = "x"
	}
	deep := map[string]any{} // 40 x 501 directories
	for i := range 40 {
		deep[fmt.Sprint("x", i, "/")+strings.Repeat("a/", 500)+"f"] = "x"
	}
	for _, c := range []struct {
		files  map[string]any
		limits map[string]any
		reason string
	}{
		{map[string]any{"../escape": "x"}, nil, `invalid request: files: the path "../escape" has a ".." component, which would leave the working directory`},
		{map[string]any{"/etc/passwd": "x"}, nil, `invalid request: files: the path "/etc/passwd" is absolute; paths are relative to the working directory, /ATO/context`},
		{many, map[string]any{"tmpfs_mib": 1}, "invalid request: files: they take 1638400 bytes of the working directory, which holds 1048576 (limits.tmpfs_mib)"},
		{deep, nil, "invalid request: files: they need 20080 files and directories; the working directory holds 16000"},
	} {
		assertRefused(t, d, job{language: "bash", code: "echo ran", files: c.files, limits: c.limits}, c.reason, c.reason)
	}
	r := execute(t, d, job{language: "bash", timeout: scaledTimeout(30), code: "ls -A; echo end", files: map[string]any{"../x": "y", "a": "b"}})
	if string(r.Stdout) != "end\n" || status(r) != "exited/0" {
		t.Errorf("v0 with files: %s %q %q, want the key skipped", status(r), r.Stdout, r.Stderr)
	}
	assertNoLeftovers(t, d)
}
