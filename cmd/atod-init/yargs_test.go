package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSplitEntries(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{"", nil},
		{"\x00", []string{""}},
		{"a\x00", []string{"a"}},
		{"a\x00b c\x00", []string{"a", "b c"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
		{"a\x00tail", []string{"a", "tail"}},
	}
	for _, tt := range tests {
		if got := splitEntries([]byte(tt.data)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitEntries(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		entries []string
		want    []string
	}{
		{"replaces first only", []string{"python", "%1", "code", "%1"}, []string{"-O", "-u"}, []string{"python", "-O", "-u", "code", "%1"}},
		{"no entries removes placeholder", []string{"python", "%1", "code"}, nil, []string{"python", "code"}},
		{"no placeholder unchanged", []string{"python", "code"}, []string{"x"}, []string{"python", "code"}},
		{"chained yargs", []string{"/ATO/yargs", "%2", "/ATO/arguments", "python", "%1", "/ATO/code", "%2"}, []string{"-c"}, []string{"/ATO/yargs", "%2", "/ATO/arguments", "python", "-c", "/ATO/code", "%2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expand(tt.command, "%1", tt.entries); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expand = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestResolveYargsChain: a chain of yargs links is expanded in one process
// as it would be by exec'ing each link, stopping at the first program that
// is not yargs itself.
func TestResolveYargsChain(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	opts, argsFile := write("options", "-O\x00-u\x00"), write("arguments", "a b\x00c\x00")
	self := func(name string) bool { return name == "/ATO/yargs" }
	got, code := resolveYargs([]string{"%2", argsFile, "/ATO/yargs", "%1", opts, "python", "%1", "/ATO/code", "%2"}, self)
	want := []string{"python", "-O", "-u", "/ATO/code", "a b", "c"}
	if code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("chain: %q (code %d), want %q", got, code, want)
	}
	// A link whose file is missing fails as yargs would.
	if _, code := resolveYargs([]string{"%2", argsFile, "/ATO/yargs", "%1", filepath.Join(dir, "none"), "python"}, self); code != 2 {
		t.Errorf("a missing file in the second link: code %d, want 2", code)
	}
	// Not yargs: left to exec, unexpanded beyond its own link.
	got, _ = resolveYargs([]string{"%1", opts, "env", "%1", "/ATO/yargs", "%2"}, self)
	if want := []string{"env", "-O", "-u", "/ATO/yargs", "%2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a program that is not yargs: %q, want %q", got, want)
	}
}
