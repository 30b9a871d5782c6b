package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atod-project/atod/rootfs"
)

func parse(t *testing.T, args ...string) (config, []string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args, storeFlags|sandboxFlags|serverFlags)
	return cfg, rest, err
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "atod.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseFlag parses the defaults with flag set to value, or with no flag
// when value is "".
func parseFlag(t *testing.T, flag, value string) config {
	t.Helper()
	var args []string
	if value != "" {
		args = []string{flag, value}
	}
	cfg, _, err := parse(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	cfg, rest, err := parse(t)
	if err != nil || len(rest) != 0 {
		t.Fatalf("parse() = %v, %v", rest, err)
	}
	if cfg.Listen != "127.0.0.1:8500" || cfg.MemoryMiB != 512 || cfg.Pids != 256 || cfg.CPUs != 1 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	file := writeConfig(t, `{"listen": "127.0.0.1:9000", "memory_mib": 256, "concurrency": 3}`)
	cfg, rest, err := parse(t, "--config", file, "--memory-mib", "128", "prog.py", "arg")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.MemoryMiB != 128 || cfg.Slots != 3 {
		t.Errorf("file then flags: %+v", cfg)
	}
	if strings.Join(rest, " ") != "prog.py arg" {
		t.Errorf("rest = %q", rest)
	}
	// --config= form, and a flag before it still wins.
	cfg, _, err = parse(t, "--listen", ":1", "--config="+file)
	if err != nil || cfg.Listen != ":1" {
		t.Errorf("flag before --config=: %+v %v", cfg.Listen, err)
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
		want string
	}{
		{"unknown key", func(t *testing.T) []string { return []string{"--config", writeConfig(t, `{"memory": 5}`)} }, `unknown field "memory"`},
		{"not JSON", func(t *testing.T) []string { return []string{"--config", writeConfig(t, `listen = 1`)} }, "reading config"},
		{"trailing data", func(t *testing.T) []string { return []string{"--config", writeConfig(t, `{} {}`)} }, "extra data"},
		{"missing file", func(t *testing.T) []string { return []string{"--config", "/nonexistent/atod.json"} }, "no such file"},
		{"bad limit", func(t *testing.T) []string { return []string{"--memory-mib", "1"} }, "memory-mib must be at least 8"},
		{"bad concurrency", func(t *testing.T) []string { return []string{"--concurrency", "0"} }, "concurrency must be 1..1024"},
		{"more prepared than slots", func(t *testing.T) []string { return []string{"--concurrency", "2", "--prepared", "3"} }, "prepared must be -1 (as many as concurrency) or 0..concurrency (2), not 3"},
		{"bad log level", func(t *testing.T) []string { return []string{"--log-level", "loud"} }, "log-level must be"},
		{"unknown flag", func(t *testing.T) []string { return []string{"--colour"} }, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, tt.args(t)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestStateDir(t *testing.T) {
	tests := []struct {
		name     string
		flag     string // --state, if any
		rootless bool
		xdg      string // $XDG_RUNTIME_DIR
		want     string
		err      string
	}{
		{"root", "", false, "/run/user/0", "/run/atod", ""},
		{"rootless", "", true, "/run/user/1500", "/run/user/1500/atod", ""},
		{"rootless without XDG_RUNTIME_DIR", "", true, "", "", "pass --state DIR"},
		{"flag as root", "/srv/atod", false, "", "/srv/atod", ""},
		{"flag rootless", "/srv/atod", true, "/run/user/1500", "/srv/atod", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseFlag(t, "--state", tt.flag)
			got, err := cfg.stateDir(tt.rootless, tt.xdg)
			if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("stateDir = %q, %v; want %q, an error mentioning %q", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestBashPath: runs get atod-bash beside the atod binary (make setup's
// musl build) when it is there and nothing else is configured, else Debian's
// bash-static; --bash wins over both.
func TestBashPath(t *testing.T) {
	withOwn := t.TempDir()
	if err := os.WriteFile(filepath.Join(withOwn, "atod-bash"), []byte("#!\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notAFile := t.TempDir()
	if err := os.Mkdir(filepath.Join(notAFile, "atod-bash"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		flag string // --bash, if any
		dir  string // the atod binary's directory
		want string
	}{
		{"atod-bash beside atod", "", withOwn, filepath.Join(withOwn, "atod-bash")},
		{"none beside atod", "", t.TempDir(), "/bin/bash-static"},
		{"a directory of that name", "", notAFile, "/bin/bash-static"},
		{"the binary's directory unknown", "", "", "/bin/bash-static"},
		{"flag", "/opt/bash", withOwn, "/opt/bash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseFlag(t, "--bash", tt.flag)
			if got := cfg.bashPathBeside(tt.dir); got != tt.want {
				t.Errorf("bashPathBeside(%q) = %q, want %q", tt.dir, got, tt.want)
			}
		})
	}
}

// TestFlagGroups: each command takes only the flags of what it uses (the
// store's for rootfs and the languages list, the sandbox's too for run,
// check and languages verify, all for serve), and reads the whole file.
func TestFlagGroups(t *testing.T) {
	conf := writeConfig(t, `{"listen": "127.0.0.1:9", "trusted_proxies": ["10.0.0.0/8"], "memory_mib": 64}`)
	for _, c := range []struct {
		groups flagGroup
		flag   string
		takes  bool
	}{
		{storeFlags, "--images=/x", true},
		{storeFlags, "--listen=:1", false},
		{storeFlags, "--state=/x", false},
		{storeFlags | sandboxFlags, "--state=/x", true},
		{storeFlags | sandboxFlags, "--token-file=/x", false},
		{storeFlags | sandboxFlags | serverFlags, "--token-file=/x", true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := defaultConfig()
		_, err := cfg.parseFlags(fs, []string{"--config", conf, c.flag}, c.groups)
		if (err == nil) != c.takes {
			t.Errorf("groups %b, %s: %v, want taken %v", c.groups, c.flag, err, c.takes)
		}
		if err == nil && (cfg.Listen != "127.0.0.1:9" || cfg.MemoryMiB != 64) {
			t.Errorf("groups %b: the file's values not read: %+v", c.groups, cfg)
		}
	}
	cfg, _, err := parse(t, "--config", conf, "--trusted-proxy", "192.0.2.1", "--trusted-proxy", "192.0.2.2")
	if err != nil || strings.Join(cfg.TrustedProxies, " ") != "192.0.2.1 192.0.2.2" {
		t.Errorf("--trusted-proxy twice over the file's list: %q, %v; want the flags' alone", cfg.TrustedProxies, err)
	}
}

// TestTokenFileWarning: a token file others may read is warned about.
func TestTokenFileWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("token-a-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := defaultConfig()
	c.TokenFile = path
	if w := c.tokenFileWarning(); w != "" {
		t.Errorf("mode 0600: %q, want no warning", w)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if w := c.tokenFileWarning(); !strings.Contains(w, "may be read by other users") || !strings.Contains(w, "chmod 600") {
			t.Errorf("mode %#o: %q, want a warning", mode, w)
		}
	}
}

// TestStoreNotOurs: a rootless daemon is told when its store keeps its
// images for another user, and which ids to give them.
func TestStoreNotOurs(t *testing.T) {
	if w := storeNotOurs(rootfs.Owner{UID: 1500, GID: 1501}, 1500, 1501, "/s"); w != "" {
		t.Errorf("its own store: %q", w)
	}
	if w := storeNotOurs(rootfs.Owner{}, 1500, 1501, "/s"); !strings.Contains(w, "runs see their image's files as nobody's") || !strings.Contains(w, "atod rootfs owner --images /s 1500:1501") {
		t.Errorf("root's store: %q", w)
	}
	for _, o := range []rootfs.Owner{{UID: 1500, GID: 1500}, {UID: 1400, GID: 1501}} {
		w := storeNotOurs(o, 1500, 1501, "/s")
		if !strings.Contains(w, "runs see their image's files as nobody's") || !strings.Contains(w, "atod rootfs owner --images DIR 1500:1501") {
			t.Errorf("a store for %v: %q", o, w)
		}
	}
}
