// Package version says which atod this is, from what the Go toolchain
// recorded in the binary when it was built: the module's version, and the
// VCS revision and time of the tree it was built from.
package version

import (
	"runtime/debug"
	"strings"
)

// Info is what the build recorded.
type Info struct {
	Version  string `json:"version"`            // the module's version: "(devel)" for a build from a work tree
	Revision string `json:"revision,omitempty"` // the commit built from
	Time     string `json:"time,omitempty"`     // the commit's time (RFC 3339)
	Modified bool   `json:"modified,omitempty"` // the tree had uncommitted changes
	Go       string `json:"go"`                 // the toolchain
}

// Get returns the build's Info (empty fields when the build recorded none).
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	info := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is Info in one line: "atod (devel) 014205e3a1b2 2026-12-01T00:38:00Z
// (modified) go1.26.0".
func (i Info) String() string {
	parts := []string{"atod", i.Version}
	if i.Revision != "" {
		parts = append(parts, i.Revision)
	}
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	if i.Modified {
		parts = append(parts, "(modified)")
	}
	if i.Go != "" {
		parts = append(parts, i.Go)
	}
	return strings.Join(parts, " ")
}
