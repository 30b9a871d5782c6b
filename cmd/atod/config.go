package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/layer"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/sandbox"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
	"github.com/atod-project/atod/server/metrics"
)

// config is atod's configuration: a JSON file (--config) whose values the
// command-line flags override.
type config struct {
	Listen       string  `json:"listen"`
	Images       string  `json:"images"`        // image store directory
	CatalogueDir string  `json:"runners"`       // language catalogue directory; empty: the built-in one
	StateDir     string  `json:"state_dir"`     // per-run state; a tmpfs is best; empty: see stateDir
	InitPath     string  `json:"init_path"`     // static atod-init; empty: beside the atod binary
	BashPath     string  `json:"bash_path"`     // static Bash mounted in every run; empty: atod-bash beside the atod binary, else Debian's bash-static
	UIDBase      int     `json:"uid_base"`      // first host uid of the runs
	Slots        int     `json:"concurrency"`   // runs at once
	Prepared     int     `json:"prepared"`      // sandboxes prepared ahead; -1: as many as Slots
	RunnersAhead bool    `json:"runners_ahead"` // prepared sandboxes start their runners ahead (sandbox.Options)
	MemoryMiB    int64   `json:"memory_mib"`
	Pids         int64   `json:"pids"`
	CPUs         float64 `json:"cpus"`
	TmpfsMiB     int64   `json:"tmpfs_mib"`
	RootMiB      int64   `json:"root_mib"`
	CgroupName   string  `json:"cgroup_name"`
	LogLevel     string  `json:"log_level"`
	LogFormat    string  `json:"log_format"`
	MaxWaiting   int     `json:"max_waiting"`   // websocket requests waiting for a slot; 0: no bound
	DrainSeconds int     `json:"drain_seconds"` // on SIGTERM, how long runs in flight get to finish
	// Where GET /metrics is served: "" on the API's address, else an
	// address of its own (and not on the API's).
	MetricsListen string `json:"metrics_listen"`
	// A file of bearer tokens the API needs (server.ParseTokens); "": none.
	TokenFile string `json:"token_file"`
	// The reverse proxies whose X-Forwarded-For and X-Request-Id the
	// request log believes: addresses or CIDR prefixes.
	TrustedProxies []string `json:"trusted_proxies"`
	// The only origins (host patterns) whose browser pages may use the
	// API; none: any.
	AllowedOrigins []string `json:"allowed_origins"`
	// One client's runs at once and requests a minute; 0: no bound.
	ClientRuns              int `json:"client_runs"`
	ClientRequestsPerMinute int `json:"client_requests_per_minute"`
}

func defaultConfig() config {
	return config{
		Listen:   "127.0.0.1:8500",
		Images:   "/var/lib/atod/images",
		UIDBase:  2_000_000_000,
		Slots:    8,
		Prepared: -1,
		// Where the Bash can wait (atod-bash), no reason not to.
		RunnersAhead: true,
		MemoryMiB:    job.DefaultLimits.MemoryBytes >> 20,
		Pids:         job.DefaultLimits.Pids,
		CPUs:         job.DefaultLimits.CPUs,
		TmpfsMiB:     job.DefaultLimits.TmpfsBytes >> 20,
		RootMiB:      job.DefaultLimits.RootBytes >> 20,
		CgroupName:   "atod",
		LogLevel:     "info",
		LogFormat:    "text",
		// The longest run (a timeout of 60 s) and the 10 s its output
		// may take to reach its client after it.
		DrainSeconds: 70,
	}
}

// flagGroup is a set of the configuration's flags: each command takes only
// the flags of what it uses (all of them read the whole file).
type flagGroup int

const (
	// storeFlags: --config, --images, --runners (every command).
	storeFlags flagGroup = 1 << iota
	// sandboxFlags: the sandbox's and the runs' (state, init, bash,
	// uid-base, concurrency, prepared, runners-ahead, the limits,
	// cgroup-name) and the log's: the commands that run programs.
	sandboxFlags
	// serverFlags: the daemon's front end (listen, max-waiting,
	// drain-seconds, metrics-listen, the tokens, proxies, origins and
	// client limits): serve alone.
	serverFlags
)

// parseFlags fills c from the JSON file named by --config, if any, and then
// from the flags of groups, which override it. fs may hold other flags; its
// remaining arguments are returned.
func (c *config) parseFlags(fs *flag.FlagSet, args []string, groups flagGroup) ([]string, error) {
	// The file's values become the flags' defaults, so it is read first.
	if file := configFlag(args); file != "" {
		if err := c.load(file); err != nil {
			return nil, err
		}
	}
	c.defineFlags(fs, groups)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), c.validate()
}

// defineFlags defines the flags of groups on fs, with c's values as their
// defaults.
func (c *config) defineFlags(fs *flag.FlagSet, groups flagGroup) {
	fs.String("config", "", "JSON configuration `file`; flags override its values")
	fs.StringVar(&c.Images, "images", c.Images, "image store `directory`")
	fs.StringVar(&c.CatalogueDir, "runners", c.CatalogueDir, "language catalogue `directory` (languages.json, scripts/); default: built in")
	if groups&sandboxFlags != 0 {
		fs.StringVar(&c.StateDir, "state", c.StateDir, "`directory` for the state of running jobs (default "+rootStateDir+"; rootless: $XDG_RUNTIME_DIR/atod)")
		fs.StringVar(&c.InitPath, "init", c.InitPath, "`path` of the static atod-init binary (default: beside atod)")
		fs.StringVar(&c.BashPath, "bash", c.BashPath, "`path` of the static Bash that runs runner scripts (default: atod-bash beside atod, else Debian's /bin/bash-static)")
		fs.IntVar(&c.UIDBase, "uid-base", c.UIDBase, "first host `uid` runs are mapped to (two per concurrent run; as root only)")
		fs.IntVar(&c.Slots, "concurrency", c.Slots, "`number` of runs at once")
		fs.IntVar(&c.Prepared, "prepared", c.Prepared, "`number` of sandboxes kept prepared ahead across all images, at most concurrency (-1: concurrency; 0: none, each run makes its own)")
		fs.BoolVar(&c.RunnersAhead, "runners-ahead", c.RunnersAhead, "start the runner's Bash of each prepared sandbox ahead, asleep until its run's files are there: a static Bash's start less on each run's round trip (needs atod-bash; with another Bash runners start at the handover)")
		fs.Int64Var(&c.MemoryMiB, "memory-mib", c.MemoryMiB, "memory limit of a run, `MiB` (no swap)")
		fs.Int64Var(&c.Pids, "pids", c.Pids, "task limit of a run")
		fs.Float64Var(&c.CPUs, "cpus", c.CPUs, "CPU limit of a run, in `CPUs`")
		fs.Int64Var(&c.TmpfsMiB, "tmpfs-mib", c.TmpfsMiB, "size of each writable tmpfs of a run, `MiB`")
		fs.Int64Var(&c.RootMiB, "root-mib", c.RootMiB, "what a run may write into its root filesystem (the writable overlay's upper layer), `MiB`")
		fs.StringVar(&c.CgroupName, "cgroup-name", c.CgroupName, "cgroup v1 parent `name` of job cgroups")
		fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn, error")
		fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json")
	}
	if groups&serverFlags != 0 {
		fs.StringVar(&c.Listen, "listen", c.Listen, "`address` to serve on")
		fs.IntVar(&c.MaxWaiting, "max-waiting", c.MaxWaiting, "`number` of websocket requests that may wait for a run slot; more are refused (close 1013); 0: no bound")
		fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "`address` to serve GET /metrics on, apart from the API (default: on the API's address)")
		fs.Func("trusted-proxy", "`address` or CIDR prefix of a reverse proxy whose X-Forwarded-For and X-Request-Id the request log believes (repeatable; replaces the file's list)", listFlag(&c.TrustedProxies))
		fs.Func("allowed-origin", "host `pattern` (path.Match: *.example.com) of the only origins whose browser pages may use the API (repeatable; replaces the file's list; none: any)", listFlag(&c.AllowedOrigins))
		fs.IntVar(&c.ClientRuns, "client-runs", c.ClientRuns, "`number` of runs one client (its token, else its address) may have at once, running or waiting; more are refused (close 1013, HTTP 429); 0: no bound")
		fs.IntVar(&c.ClientRequestsPerMinute, "client-requests-per-minute", c.ClientRequestsPerMinute, "`number` of requests one client may make a minute (as many at once); 0: no bound")
		fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "`file` of bearer tokens (one a line) the API needs; none: anyone may use it")
		fs.IntVar(&c.DrainSeconds, "drain-seconds", c.DrainSeconds, "on SIGTERM, `seconds` the runs in flight get to finish before they are killed")
	}
}

// listFlag is the Set of a repeatable flag whose values replace the list
// the file gave, from its first use on.
func listFlag(list *[]string) func(string) error {
	fresh := false
	return func(v string) error {
		if !fresh {
			*list, fresh = nil, true
		}
		*list = append(*list, v)
		return nil
	}
}

// configFlag finds the value of --config in args, before any "--".
func configFlag(args []string) string {
	for i, a := range args {
		switch {
		case a == "--":
			return ""
		case a == "-config" || a == "--config":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "-config="), strings.HasPrefix(a, "--config="):
			return a[strings.Index(a, "=")+1:]
		}
	}
	return ""
}

// load reads a JSON configuration file over c. Unknown keys are errors, so
// that a misspelt setting is not silently ignored.
func (c *config) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("reading config %s: %w (see the README for the keys)", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading config %s: extra data after the JSON object", path)
	}
	return nil
}

func (c *config) validate() error {
	var errs []string
	if c.Slots < 1 || c.Slots > 1024 {
		errs = append(errs, fmt.Sprintf("concurrency must be 1..1024, not %d", c.Slots))
	}
	if c.Prepared < -1 || c.Prepared > c.Slots {
		errs = append(errs, fmt.Sprintf("prepared must be -1 (as many as concurrency) or 0..concurrency (%d), not %d", c.Slots, c.Prepared))
	}
	// Each slot has a uid for the run and one for root of its namespace
	// when the image's user is not root (see sandbox.Options.UIDBase).
	if c.UIDBase < 1 || int64(c.UIDBase)+2*int64(c.Slots) > 1<<32-2 {
		errs = append(errs, fmt.Sprintf("uid-base %d leaves no room for %d uids", c.UIDBase, 2*c.Slots))
	} else if lo, hi := int64(c.UIDBase), int64(c.UIDBase)+2*int64(c.Slots); lo < layer.ImageIDShift+1<<24 && hi > layer.ImageIDShift {
		errs = append(errs, fmt.Sprintf("uid-base %d: runs' uids would overlap the owners of image files (%d and up)", c.UIDBase, layer.ImageIDShift))
	}
	if c.MemoryMiB < 8 {
		errs = append(errs, fmt.Sprintf("memory-mib must be at least 8, not %d", c.MemoryMiB))
	}
	if c.Pids < 8 {
		errs = append(errs, fmt.Sprintf("pids must be at least 8, not %d", c.Pids))
	}
	if c.CPUs < 0.01 || c.CPUs > 1024 {
		errs = append(errs, fmt.Sprintf("cpus must be 0.01..1024, not %g", c.CPUs))
	}
	if c.TmpfsMiB < 1 {
		errs = append(errs, fmt.Sprintf("tmpfs-mib must be at least 1, not %d", c.TmpfsMiB))
	}
	if c.RootMiB < 1 {
		errs = append(errs, fmt.Sprintf("root-mib must be at least 1, not %d", c.RootMiB))
	}
	if _, err := server.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err.Error())
	}
	if err := server.CheckOrigins(c.AllowedOrigins); err != nil {
		errs = append(errs, err.Error())
	}
	if c.MaxWaiting < 0 {
		errs = append(errs, fmt.Sprintf("max-waiting must be 0 (no bound) or more, not %d", c.MaxWaiting))
	}
	if c.ClientRuns < 0 || c.ClientRequestsPerMinute < 0 {
		errs = append(errs, fmt.Sprintf("client-runs and client-requests-per-minute must be 0 (no bound) or more, not %d and %d", c.ClientRuns, c.ClientRequestsPerMinute))
	}
	if c.DrainSeconds < 0 || c.DrainSeconds > 3600 {
		errs = append(errs, fmt.Sprintf("drain-seconds must be 0..3600, not %d", c.DrainSeconds))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err.Error())
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Sprintf("log-format must be text or json, not %q", c.LogFormat))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (c *config) limits() job.Limits {
	return job.Limits{
		MemoryBytes: c.MemoryMiB << 20,
		Pids:        c.Pids,
		CPUs:        c.CPUs,
		TmpfsBytes:  c.TmpfsMiB << 20,
		RootBytes:   c.RootMiB << 20,
	}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

func (c *config) logger(w io.Writer) *slog.Logger {
	return c.loggerAt(w, c.levelVar())
}

// levelVar is the log level, as a variable a reload may change.
func (c *config) levelVar() *slog.LevelVar {
	level, _ := parseLevel(c.LogLevel)
	v := &slog.LevelVar{}
	v.Set(level)
	return v
}

func (c *config) loggerAt(w io.Writer, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// stores loads the language catalogue (the built-in one, or the operator's
// directory) and opens the image store.
func (c *config) stores() (*runners.Catalogue, *rootfs.Dir, error) {
	var cat *runners.Catalogue
	var err error
	if c.CatalogueDir == "" {
		cat, err = runners.Embedded()
	} else {
		cat, err = runners.LoadDir(c.CatalogueDir)
	}
	if err != nil {
		return nil, nil, err
	}
	images, err := rootfs.OpenDir(c.Images)
	if err != nil {
		return nil, nil, err
	}
	return cat, images, nil
}

// server builds the API server over the stores and the sandbox.
func (c *config) server(log *slog.Logger, cat *runners.Catalogue, images *rootfs.Dir, sb *sandbox.Sandbox, m *metrics.Metrics) (*server.Server, error) {
	settings, err := c.settings()
	if err != nil {
		return nil, err
	}
	proxies, err := server.ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return nil, err
	}
	opts := server.Options{
		Settings:       settings,
		TrustedProxies: proxies,
		Catalogue:      cat,
		Images:         images,
		Runner:         sb,
		Logger:         log,
		Slots:          sb.Slots(),
		Version:        version.Get(),
	}
	if m != nil {
		opts.Recorder = m
		if c.MetricsListen == "" {
			opts.MetricsHandler = m.Handler()
		}
	}
	srv, err := server.New(opts)
	if err == nil && m != nil {
		m.Watch(srv)
	}
	return srv, err
}

// oneShot makes what the commands that run programs once (run, languages
// verify, check) need: the sandbox, with nothing prepared ahead, and the
// server their requests go through, as the API's do. done releases them.
func (c *config) oneShot(log *slog.Logger, cgroupView string, cat *runners.Catalogue, images *rootfs.Dir) (srv *server.Server, done func(), err error) {
	c.Prepared = 0 // its runs are all known now: none to prepare ahead
	sb, err := c.sandbox(log, cgroupView, images)
	if err != nil {
		return nil, nil, err
	}
	if srv, err = c.server(log, cat, images, sb, nil); err != nil {
		sb.Close()
		return nil, nil, err
	}
	return srv, func() { sb.Close() }, nil
}

// tokens reads the token file, if the configuration names one.
func (c *config) tokens() (*server.Tokens, error) {
	if c.TokenFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("reading the token file: %w", err)
	}
	t, err := server.ParseTokens(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.TokenFile, err)
	}
	return t, nil
}

// tokenFileWarning says what is wrong with the token file's mode, if
// anything: tokens are secrets, and a file other users may read gives
// them away.
func (c *config) tokenFileWarning() string {
	if c.TokenFile == "" {
		return ""
	}
	info, err := os.Stat(c.TokenFile)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return "" // reading it says what is wrong
	}
	return fmt.Sprintf("the token file %s may be read by other users (mode %#o), who could then use the API: chmod 600 it", c.TokenFile, info.Mode().Perm())
}

// settings are c's settings a running server takes anew.
func (c *config) settings() (server.Settings, error) {
	t, err := c.tokens()
	return server.Settings{Limits: c.limits(), MaxWaiting: c.MaxWaiting, Tokens: t, AllowedOrigins: c.AllowedOrigins,
		ClientRuns: c.ClientRuns, ClientRequestsPerMinute: c.ClientRequestsPerMinute}, err
}

// reloadable lists the configuration's keys a running daemon takes anew
// on SIGHUP; every other key needs a restart.
var reloadable = map[string]bool{
	"memory_mib": true, "pids": true, "cpus": true, "tmpfs_mib": true, "root_mib": true,
	"log_level": true, "max_waiting": true, "drain_seconds": true, "token_file": true, "allowed_origins": true,
	"client_runs": true, "client_requests_per_minute": true,
}

// changedKeys lists the keys whose values differ between a and b, by their
// JSON names, in order.
func changedKeys(a, b config) []string {
	var keys []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			keys = append(keys, name)
		}
	}
	return keys
}

// setKey copies the value of the key named by its JSON name from src to
// dst.
func setKey(dst, src *config, key string) {
	vd, vs := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := range vd.NumField() {
		if name, _, _ := strings.Cut(vd.Type().Field(i).Tag.Get("json"), ","); name == key {
			vd.Field(i).Set(vs.Field(i))
		}
	}
}

// storeBytes is what the store's images hold, as they recorded it.
func storeBytes(images *rootfs.Dir) func() (int64, error) {
	return func() (int64, error) {
		entries, err := images.List()
		var n int64
		for _, e := range entries {
			n += e.SizeBytes
		}
		return n, err
	}
}

// prepared is how many sandboxes the sandbox keeps prepared ahead.
func (c *config) prepared() int {
	if c.Prepared < 0 {
		return c.Slots
	}
	return c.Prepared
}

// imageTrees hold the trees of the sandbox's prepared runs in the image
// store: a lease each.
type imageTrees struct{ d *rootfs.Dir }

func (t imageTrees) Hold(name string) (string, func(), error) {
	l, err := t.d.Acquire(name)
	if err != nil {
		return "", nil, err
	}
	return l.Path, l.Release, nil
}

// storeNotOurs says what a rootless daemon of host ids uid and gid loses
// on a store that keeps its images for owner, and what to do: "" when the
// store is its own.
func storeNotOurs(owner rootfs.Owner, uid, gid int, store string) string {
	if owner.UID == uid && owner.GID == gid {
		return ""
	}
	what := fmt.Sprintf("give them to this user, as root: atod rootfs owner --images %s %d:%d", store, uid, gid)
	if !owner.IsRoot() { // a user's images are not given to another
		what = fmt.Sprintf("install images into a store of this user's, as root: atod rootfs owner --images DIR %d:%d, then build, pull or import them with --images DIR", uid, gid)
	}
	return fmt.Sprintf("the image store keeps its images for %s, not for this user (%d:%d): runs see their image's files as nobody's and may change only what the image lets everyone change; %s",
		owner, uid, gid, what)
}

// initPath is the configured init binary, or atod-init beside this binary.
func (c *config) initPath() string {
	if c.InitPath != "" {
		return c.InitPath
	}
	exe, err := os.Executable()
	if err != nil {
		return "atod-init"
	}
	return filepath.Join(filepath.Dir(exe), "atod-init")
}

// debianStaticBash is Debian's bash-static, the Bash runs get where atod's
// own musl build (atod-bash, scripts/build-bash) is not beside atod: the
// Debian package's case.
const debianStaticBash = "/bin/bash-static"

// bashPath is the configured static Bash; by default atod-bash beside this
// binary, where make setup or make install put it, else Debian's
// bash-static.
func (c *config) bashPath() string {
	dir := ""
	if exe, err := os.Executable(); err == nil {
		dir = filepath.Dir(exe)
	}
	return c.bashPathBeside(dir)
}

// bashPathBeside is bashPath for an atod binary in dir ("": unknown).
func (c *config) bashPathBeside(dir string) string {
	if c.BashPath != "" {
		return c.BashPath
	}
	if dir != "" {
		own := filepath.Join(dir, "atod-bash")
		if st, err := os.Stat(own); err == nil && st.Mode().IsRegular() {
			return own
		}
	}
	return debianStaticBash
}

// rootStateDir is the state directory of a daemon run as root.
const rootStateDir = "/run/atod"

// stateDir is the configured state directory, or the default: /run/atod as
// root; $XDG_RUNTIME_DIR/atod (xdgRuntimeDir is its value) when rootless,
// since a user cannot write /run/atod.
func (c *config) stateDir(rootless bool, xdgRuntimeDir string) (string, error) {
	switch {
	case c.StateDir != "":
		return c.StateDir, nil
	case !rootless:
		return rootStateDir, nil
	case xdgRuntimeDir != "":
		return filepath.Join(xdgRuntimeDir, "atod"), nil
	default:
		return "", fmt.Errorf("running rootless (atod was not started as root): no state directory the user can write: "+
			"%s belongs to root and $XDG_RUNTIME_DIR is not set; pass --state DIR (state_dir in the config file), best on a tmpfs",
			rootStateDir)
	}
}

// sandbox prepares the sandbox. Started as root, atod maps each concurrent
// run to a uid of its own (uid_base + slot); started as any other user it
// is rootless (sandbox.Options.Rootless): every run gets the daemon's own
// uid and gid, on a cgroup v2 host whose cgroup for the daemon is delegated
// to that user. cgroupView is the delegated cgroup the daemon's view of the
// cgroup tree is rooted at, if any (EnterOwnMountNamespace, root only).
func (c *config) sandbox(log *slog.Logger, cgroupView string, images *rootfs.Dir) (*sandbox.Sandbox, error) {
	// Unprivileged, the daemon runs as root of a user namespace of its
	// own (sandbox.EnterUserNS, in main).
	uid, gid, ownNS := sandbox.HostUser()
	rootless := ownNS || os.Geteuid() != 0
	if !ownNS {
		uid, gid = os.Geteuid(), os.Getegid()
	}
	state, err := c.stateDir(rootless, os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		return nil, err
	}
	owner, err := images.Owner()
	if err != nil {
		return nil, err
	}
	if rootless {
		log.Info("rootless: every run maps uid 0 to the daemon's own uid and gid",
			"uid", uid, "gid", gid, "state", state, "writable_roots", ownNS)
		if c.UIDBase != defaultConfig().UIDBase {
			log.Warn("uid_base is ignored when rootless: per-run uids need root", "uid_base", c.UIDBase)
		}
		if w := storeNotOurs(owner, uid, gid, images.Root()); w != "" {
			log.Warn(w)
		}
	} else if lo, hi := int64(c.UIDBase), int64(c.UIDBase)+2*int64(c.Slots); int64(owner.UID) >= lo && int64(owner.UID) < hi || int64(owner.GID) >= lo && int64(owner.GID) < hi {
		return nil, fmt.Errorf("the image store's owner %s is among the runs' host ids (uid_base %d, %d of them): give the store to another user or move uid_base", owner, c.UIDBase, hi-lo)
	}
	opts := sandbox.Options{
		StateDir:     state,
		InitPath:     c.initPath(),
		BashPath:     c.bashPath(),
		UIDBase:      c.UIDBase,
		Rootless:     rootless,
		Slots:        c.Slots,
		Limits:       c.limits(),
		ImageIDShift: layer.ImageIDShift,
		ImageRootUID: uint32(owner.UID),
		ImageRootGID: uint32(owner.GID),
		CgroupName:   c.CgroupName,
		CgroupView:   cgroupView,
		Trees:        imageTrees{images},
		Prepared:     c.prepared(),
		RunnersAhead: c.RunnersAhead,
		Logger:       log,
	}
	sb, err := sandbox.New(opts)
	if err != nil && rootless {
		return nil, fmt.Errorf("running rootless as uid %d (atod was not started as root): %w", uid, err)
	}
	return sb, err
}
