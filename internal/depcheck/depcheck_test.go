package depcheck

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/atod-project/atod"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// listPackages runs go list over the module (with the build tags the
// project is built with) and returns its packages.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", "seccomp", "-json=ImportPath,Imports,Deps,Standard", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// sandboxModules are the modules of the sandbox's Linux code.
var sandboxModules = []string{
	"github.com/opencontainers/runc", "github.com/opencontainers/cgroups", "github.com/opencontainers/runtime-spec",
	"github.com/containerd/", "github.com/seccomp/", "github.com/cilium/ebpf",
}

func local(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestImportDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		name := local(p.ImportPath)
		for _, imp := range p.Imports {
			dep := local(imp)
			if dep == imp {
				continue // not ours
			}
			switch {
			case strings.HasPrefix(dep, "cmd/"):
				t.Errorf("%s imports the command %s", name, dep)
			case dep == "server" && name != "cmd/atod":
				t.Errorf("%s imports server: only cmd/atod wires it", name)
			case (name == "sandbox" || strings.HasPrefix(name, "sandbox/")) &&
				(dep == "protocol" || dep == "server" || dep == "runners" || dep == "rootfs"):
				t.Errorf("%s imports %s: the sandbox takes a self-contained spec", name, dep)
			case name == "protocol" || name == "sandbox/job":
				t.Errorf("%s imports %s: it must stay pure", name, dep)
			}
		}
		if name == "protocol" {
			for _, imp := range p.Imports {
				if strings.Contains(imp, ".") && !strings.HasPrefix(imp, "github.com/tinylib/msgp") {
					t.Errorf("protocol imports %s: only the standard library and msgp", imp)
				}
			}
		}
		if name == "server" || name == "protocol" || name == "sandbox/job" {
			for _, d := range p.Deps {
				// The image store's OCI image types (image-spec,
				// go-digest) are data; the runtime's packages are not.
				if slices.ContainsFunc(sandboxModules, func(m string) bool { return strings.HasPrefix(d, m) }) {
					t.Errorf("%s depends on %s: it must build without the sandbox's Linux code", name, d)
				}
			}
		}
	}
}
