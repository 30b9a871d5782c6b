package depcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/atod-project/atod"

// sandboxModules are the modules of the sandbox's Linux code.
var sandboxModules = []string{
	"github.com/opencontainers/runc", "github.com/opencontainers/cgroups", "github.com/opencontainers/runtime-spec",
	"github.com/containerd/", "github.com/seccomp/", "github.com/cilium/ebpf",
}

// noIO are the standard packages a package that does no I/O never needs.
var noIO = []string{"syscall", "os", "net", "net/..."}

// rule says what one package may and may not import. Paths of the module's
// packages are relative to the module ("rootfs/image"); "P/..." is P and
// every package below it. A nil list allows anything; an empty one nothing.
type rule struct {
	pkg string
	why string
	// importers are the module's packages that may import it.
	importers []string
	// mayImport are the module's packages it may import; mayNotImport
	// those it may not.
	mayImport, mayNotImport []string
	// thirdParty are the other modules' packages it may import directly
	// (patterns, as above); deps are prefixes of the paths its
	// dependencies, all the way down, may have; noDeps prefixes no
	// dependency may have.
	thirdParty, deps, noDeps []string
	// noStd are standard packages it may not import.
	noStd []string
	// pure: no platform-specific file (_linux.go), and it builds for
	// another OS (darwin).
	pure bool
}

// rules are atod's package boundaries. Data flows one way: cmd/atod wires
// server (protocol, runners, rootfs/image, sandbox/job: pure, so that the
// front end builds anywhere), the sandbox (which takes a self-contained
// spec) and the image store (rootfs, with the ways trees get there beside
// it).
var rules = []rule{
	{pkg: "cmd/...", importers: []string{}, why: "commands are the top of the graph"},
	{
		pkg: "server", why: "the front end knows the sandbox's spec and the image's data, not how runs are contained or images stored",
		importers:  []string{"cmd/atod", "server/metrics"},
		mayImport:  []string{"protocol", "runners", "sandbox/job", "rootfs/image", "internal/version"},
		thirdParty: []string{"github.com/coder/websocket/...", "golang.org/x/time/rate"},
		deps:       []string{"github.com/coder/websocket", "github.com/tinylib/msgp", "github.com/philhofer/fwd", "golang.org/x/time/rate"},
		noDeps:     append([]string{"github.com/google/go-containerregistry", "github.com/docker/", "golang.org/x/sys/unix"}, sandboxModules...),
		noStd:      []string{"syscall"},
		pure:       true,
	},
	{
		pkg: "protocol", why: "wire types: the standard library and msgp, and no I/O (DESIGN.md, \"Layout\")",
		mayImport: []string{}, thirdParty: []string{"github.com/tinylib/msgp/msgp"}, noDeps: sandboxModules, noStd: noIO, pure: true,
	},
	{
		pkg: "sandbox/job", why: "the data of a run, so that server builds without the sandbox's Linux code",
		mayImport: []string{}, thirdParty: []string{}, noDeps: sandboxModules, pure: true,
	},
	{
		pkg: "sandbox/seccompprofile", why: "the system call policy is data, checked on any OS and for every architecture",
		mayImport: []string{}, thirdParty: []string{}, noDeps: sandboxModules, pure: true,
	},
	{
		pkg: "sandbox/...", why: "the sandbox takes a self-contained spec",
		mayNotImport: []string{"protocol", "server", "runners", "rootfs/..."},
	},
	{pkg: "runners", why: "the language catalogue is data the front end reads", mayImport: []string{}, pure: true},
	{
		pkg: "runners/hello", why: "the hello-world verifier is a client of an executor (the server), not part of it",
		importers: []string{"cmd/atod"}, mayImport: []string{"protocol", "runners", "sandbox/job"}, thirdParty: []string{}, pure: true,
	},
	{
		pkg: "rootfs/image", why: "what a run gets of an image, as pure data for the front end",
		mayImport: []string{}, thirdParty: []string{}, noStd: noIO, pure: true,
	},
	{
		pkg: "rootfs/layer", why: "the hardened extractor stands alone: no store, no registry client",
		mayImport: []string{}, thirdParty: []string{"golang.org/x/sys/unix"},
	},
	{
		pkg: "rootfs/layer/layertest", why: "layers for tests: only tests import it",
		importers: []string{},
	},
	{
		pkg: "internal/initproto", why: "what the daemon and the C init and setup say: plain data",
		mayImport: []string{}, thirdParty: []string{}, noStd: noIO, pure: true,
	},
	{
		pkg: "server/metrics", why: "the server's Recorder for Prometheus, kept out of server, which builds without x/sys",
		importers:  []string{"cmd/atod"},
		mayImport:  []string{"server", "sandbox/job", "internal/version"},
		thirdParty: []string{"github.com/prometheus/client_golang/..."},
		pure:       true,
	},
	{
		pkg: "internal/version", why: "the build's version, as the toolchain recorded it: the standard library alone",
		importers: []string{"cmd/atod", "server", "server/metrics"}, mayImport: []string{}, thirdParty: []string{}, pure: true,
	},
	{
		pkg: "internal/term", why: "whether a file is a terminal: x/sys alone",
		importers: []string{"cmd/atod", "rootfs/install"}, mayImport: []string{},
	},
	{
		pkg: "internal/listen", why: "the daemon's listener, kept accepting: the standard library alone",
		mayImport: []string{}, thirdParty: []string{},
	},
	{
		pkg: "internal/mkdirs", why: "a helper every writer of the host's directories shares",
		mayImport: []string{}, thirdParty: []string{},
	},
	{
		pkg: "internal/timescale", why: "the tests' time bounds: only tests (and their helpers) import it",
		importers: []string{"internal/atodtest"}, mayImport: []string{}, thirdParty: []string{}, pure: true,
	},
	{
		pkg: "internal/leftovers", why: "what the tests look for after runs: only tests import it",
		importers: []string{}, mayImport: []string{}, thirdParty: []string{},
	},
	{pkg: "internal/depcheck", why: "this table: a test of its own", importers: []string{}},
	{pkg: "e2e", why: "the end-to-end tests: a test of its own", importers: []string{}},
	{
		pkg: "internal/atodtest", why: "helpers for tests (protocol's own among them): only tests import it, and it imports nothing of the module but timescale",
		importers: []string{}, mayImport: []string{"internal/timescale"}, thirdParty: []string{"github.com/tinylib/msgp/msgp"},
	},
	{
		pkg: "internal/testclient", why: "the tests' clients of the three APIs: only tests import it",
		importers: []string{}, mayImport: []string{"protocol"}, thirdParty: []string{"github.com/coder/websocket/...", "github.com/tinylib/msgp/msgp"},
	},
	{
		pkg: "rootfs", why: "the store knows no way trees get there (pull, import, build)",
		mayImport: []string{"rootfs/image", "rootfs/layer", "internal/mkdirs"},
		noDeps:    []string{"github.com/google/go-containerregistry", "github.com/klauspost/compress"},
	},
	{
		pkg: "rootfs/install", why: "pulls and imports install through the store's writer",
		mayImport: []string{"rootfs", "rootfs/image", "rootfs/layer", "internal/term"},
	},
	{
		pkg: "rootfs/debian", why: "builds install through the store's writer",
		mayImport: []string{"rootfs", "rootfs/layer", "internal/mkdirs"},
	},
}

// pkg is what go list says of a package.
type pkg struct {
	ImportPath     string
	Imports        []string
	Deps           []string
	Standard       bool
	GoFiles        []string
	IgnoredGoFiles []string
}

// listPackages runs go list over the module and its dependencies (with the
// build tags the project is built with).
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", "seccomp",
		"-json=ImportPath,Imports,Deps,Standard,GoFiles,IgnoredGoFiles", module+"/...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// local is a module package's path relative to the module, and whether it
// is one.
func local(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// matches reports whether path is pattern, or below it for "P/...".
func matches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchesAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, path) })
}

func hasPrefixAny(prefixes []string, path string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(path, p) })
}

// check returns every break of rules by pkgs (the module's packages and
// their dependencies, by import path).
func check(rules []rule, pkgs map[string]pkg) []string {
	var errs []string
	fail := func(r rule, format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...)+" ("+r.pkg+": "+r.why+")")
	}
	for _, r := range rules {
		matched := false
		for _, p := range pkgs {
			name, ok := local(p.ImportPath)
			if !ok {
				continue
			}
			if r.importers != nil && !matches(r.pkg, name) {
				for _, imp := range p.Imports {
					if dep, ok := local(imp); ok && matches(r.pkg, dep) && !matchesAny(r.importers, name) {
						fail(r, "%s imports %s", name, dep)
					}
				}
			}
			if !matches(r.pkg, name) {
				continue
			}
			matched = true
			for _, imp := range p.Imports {
				dep, ours := local(imp)
				switch {
				case ours && r.mayImport != nil && !matchesAny(r.mayImport, dep):
					fail(r, "%s imports %s", name, dep)
				case ours && matchesAny(r.mayNotImport, dep):
					fail(r, "%s imports %s", name, dep)
				case !ours && !pkgs[imp].Standard && r.thirdParty != nil && !matchesAny(r.thirdParty, imp):
					fail(r, "%s imports %s", name, imp)
				case !ours && pkgs[imp].Standard && matchesAny(r.noStd, imp):
					fail(r, "%s imports %s", name, imp)
				}
			}
			for _, d := range p.Deps {
				if _, ours := local(d); ours || pkgs[d].Standard {
					continue
				}
				if hasPrefixAny(r.noDeps, d) || r.deps != nil && !hasPrefixAny(r.deps, d) {
					fail(r, "%s depends on %s", name, d)
				}
			}
			if r.pure {
				for _, f := range append(slices.Clone(p.GoFiles), p.IgnoredGoFiles...) {
					if strings.HasSuffix(f, "_linux.go") {
						fail(r, "%s has the platform-specific file %s", name, f)
					}
				}
			}
		}
		if !matched {
			fail(r, "no package matches the rule")
		}
	}
	return errs
}

// TestImports checks every rule against the module.
func TestImports(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 100 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, e := range check(rules, pkgs) {
		t.Error(e)
	}
	// Every package of the module has a rule: a new one says what it
	// may import when it is made.
	for path := range pkgs {
		name, ours := local(path)
		if ours && !slices.ContainsFunc(rules, func(r rule) bool { return matches(r.pkg, name) }) {
			t.Errorf("%s has no rule: add one to the table", name)
		}
	}
}

// TestPureBuildAnywhere builds the pure packages for another OS, so that
// their promise to build anywhere is kept.
func TestPureBuildAnywhere(t *testing.T) {
	args := []string{"build", "-o", os.DevNull}
	for _, r := range rules {
		if r.pure {
			args = append(args, module+"/"+r.pkg)
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=darwin", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("GOOS=darwin go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// concrete is a package path pattern matches.
func concrete(pattern string) string {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return base + "/sub"
	}
	return pattern
}

// TestEachRuleCanFail: for every rule, a package that keeps it passes, and
// one that breaks any one of its constraints fails, so that no rule is
// dead (a typo in a path, a constraint check that never fires).
func TestEachRuleCanFail(t *testing.T) {
	for _, r := range rules {
		name := concrete(r.pkg)
		base := func() map[string]pkg {
			return map[string]pkg{
				module + "/" + name: {ImportPath: module + "/" + name, GoFiles: []string{"a.go"}},
				"fmt":               {ImportPath: "fmt", Standard: true},
				"net/http":          {ImportPath: "net/http", Standard: true},
				"example.com/other": {ImportPath: "example.com/other"},
			}
		}
		if errs := check([]rule{r}, base()); len(errs) > 0 {
			t.Errorf("%s: a package that keeps the rule fails it: %q", r.pkg, errs)
		}
		var breaks []func(map[string]pkg)
		self := func(pkgs map[string]pkg, f func(*pkg)) {
			p := pkgs[module+"/"+name]
			f(&p)
			pkgs[module+"/"+name] = p
		}
		if r.importers != nil {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				pkgs[module+"/outsider"] = pkg{ImportPath: module + "/outsider", Imports: []string{module + "/" + name}}
			})
		}
		if r.mayImport != nil {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.Imports = append(p.Imports, module+"/not-allowed") })
			})
		}
		for _, dep := range r.mayNotImport {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.Imports = append(p.Imports, module+"/"+concrete(dep)) })
			})
		}
		if r.thirdParty != nil {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.Imports = append(p.Imports, "example.com/other") })
			})
		}
		if r.deps != nil {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.Deps = append(p.Deps, "example.com/other") })
			})
		}
		for _, prefix := range r.noDeps {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.Deps = append(p.Deps, prefix+"x") })
			})
		}
		for _, std := range r.noStd {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				path := strings.Replace(std, "...", "http", 1)
				pkgs[path] = pkg{ImportPath: path, Standard: true}
				self(pkgs, func(p *pkg) { p.Imports = append(p.Imports, path) })
			})
		}
		if r.pure {
			breaks = append(breaks, func(pkgs map[string]pkg) {
				self(pkgs, func(p *pkg) { p.IgnoredGoFiles = append(p.IgnoredGoFiles, "a_linux.go") })
			})
		}
		if len(breaks) == 0 {
			t.Errorf("%s: the rule constrains nothing", r.pkg)
		}
		for i, brk := range breaks {
			pkgs := base()
			brk(pkgs)
			if errs := check([]rule{r}, pkgs); len(errs) == 0 {
				t.Errorf("%s: break %d of the rule passes", r.pkg, i)
			}
		}
	}
}
