package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPagesAndCompletion: the man pages and the completion come from the
// flags the commands parse with: serve's page has the front end's flags,
// rootfs list's has only the store's, run's has its own; the completion
// script asks the binary, which answers with the same flags.
func TestManPagesAndCompletion(t *testing.T) {
	dir := t.TempDir()
	if err := manPages([]string{dir}); err != nil {
		t.Fatal(err)
	}
	page := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), `\-`, "-")
	}
	for _, c := range []struct {
		page, has, hasNot string
	}{
		{"atod-serve.1", "--drain-seconds", ""},
		{"atod-serve.1", "--token-file", ""},
		{"atod-rootfs-list.1", "--images", "--listen"},
		{"atod-run.1", "--language", "--token-file"},
		{"atod-run.1", "--state", ""},
		{"atod-rootfs-build.1", "--deb-cache", "--state"},
	} {
		p := page(c.page)
		if !strings.Contains(p, c.has) || c.hasNot != "" && strings.Contains(p, c.hasNot) {
			t.Errorf("%s: has %q: %v, has %q: %v", c.page, c.has, strings.Contains(p, c.has), c.hasNot, c.hasNot != "" && strings.Contains(p, c.hasNot))
		}
	}
	var script bytes.Buffer
	if err := completion([]string{"bash"}, &script); err != nil || !strings.Contains(script.String(), "__complete") {
		t.Errorf("bash completion: %v, %d bytes", err, script.Len())
	}
	root := commandTree()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"__complete", "run", "--la"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "--language") {
		t.Errorf("completing atod run --la: %v, %q", err, out.String())
	}
}
