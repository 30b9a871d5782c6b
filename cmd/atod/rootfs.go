package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/debian"
	"github.com/atod-project/atod/rootfs/install"
	"github.com/atod-project/atod/rootfs/layer"
)

const rootfsUsage = `usage: atod rootfs COMMAND [flags]

commands:
  pull REF        pull an image from a registry (REGISTRY/REPOSITORY:TAG or @sha256:DIGEST)
  import PATH     import a docker save tarball, an OCI image layout (a directory) or one in a tar file
  build RECIPE... build Debian images from atod's recipes (--all: every one; ` + "`atod rootfs build -h`" + ` lists them)
  list            list the images: names, trees, sizes, sources, the languages using them
  rm NAME...      remove images (runs using them finish first; gc frees their space)
  gc              remove the trees no name points at and no run uses
  owner [USER]    print or set the user the store keeps its images for (a rootless daemon's)

Every command takes the store flags (--images, --config); "atod rootfs COMMAND -h" shows them.
`

// rootfsCommand runs `atod rootfs ...`.
func rootfsCommand(ctx context.Context, args []string) error {
	// Trees must be readable by the runs' unprivileged uids, whatever
	// umask the operator's shell has.
	unix.Umask(0o022)
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, rootfsUsage)
		return exitCode(2)
	}
	switch args[0] {
	case "pull":
		return rootfsPull(ctx, args[1:])
	case "import":
		return rootfsImport(ctx, args[1:])
	case "build":
		return rootfsBuild(ctx, args[1:])
	case "list", "ls":
		return rootfsList(args[1:])
	case "rm", "remove":
		return rootfsRemove(ctx, args[1:])
	case "gc":
		return rootfsGC(ctx, args[1:])
	case "owner":
		return rootfsOwner(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, rootfsUsage)
		return nil
	default:
		fmt.Fprintf(os.Stderr, "atod rootfs: unknown command %q\n\n%s", args[0], rootfsUsage)
		return exitCode(2)
	}
}

// rootfsFlags parses a rootfs command's flags (the command's own in fs,
// and the store's) from args, which may put flags after the operands too,
// and checks that there are minOps to maxOps operands (maxOps < 0: any).
func rootfsFlags(fs *flag.FlagSet, args []string, usage string, minOps, maxOps int) (config, []string, error) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: atod rootfs %s\n", usage)
		fs.PrintDefaults()
	}
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args, storeFlags)
	if err != nil {
		return cfg, nil, err
	}
	var operands []string
	for len(rest) > 0 {
		if rest[0] == "--" {
			operands = append(operands, rest[1:]...)
			break
		}
		operands = append(operands, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return cfg, nil, err
		}
		rest = fs.Args()
	}
	if len(operands) < minOps || maxOps >= 0 && len(operands) > maxOps {
		fs.Usage()
		return cfg, nil, exitCode(2)
	}
	return cfg, operands, cfg.validate()
}

// lockStore opens the configured store and waits for its writer.
func lockStore(ctx context.Context, cfg config) (*rootfs.Dir, *rootfs.Writer, error) {
	d, err := rootfs.OpenDir(cfg.Images)
	if err != nil {
		return nil, nil, err
	}
	w, err := d.Lock(ctx, func() {
		fmt.Fprintf(os.Stderr, "waiting for another atod changing %s...\n", d.Root())
	})
	if err != nil {
		return nil, nil, err
	}
	return d, w, nil
}

// pullFlags, importFlags and buildFlags define the rootfs commands' own
// flags (commandTree describes them too).
func pullFlags(fs *flag.FlagSet) (name, platform *string, insecure *bool, maxSizeMiB *int64) {
	return fs.String("name", "", "image `name` to install it as (default: from REF, e.g. python-3.12 for REGISTRY/library/python:3.12)"),
		fs.String("platform", "", "`os/arch` to pick from a multi-platform image (default: this host's)"),
		fs.Bool("insecure", false, "allow a registry over plain HTTP"),
		fs.Int64("max-size-mib", layer.DefaultBudget.Bytes>>20, "refuse an image whose files pass this many `MiB`")
}

func importFlags(fs *flag.FlagSet) (name, tag, platform *string, maxSizeMiB *int64) {
	return fs.String("name", "", "image `name` to install it as (required)"),
		fs.String("tag", "", "`tag` of the image to import, when the file or layout holds several"),
		fs.String("platform", "", "`os/arch` to pick from a multi-platform layout (default: this host's)"),
		fs.Int64("max-size-mib", layer.DefaultBudget.Bytes>>20, "refuse an image whose files pass this many `MiB`")
}

func buildFlags(fs *flag.FlagSet) (force, all *bool, debCache *string) {
	return fs.Bool("force", false, "rebuild even if the image is up to date (e.g. for security updates)"),
		fs.Bool("all", false, "build every recipe's image (those up to date are kept)"),
		fs.String("deb-cache", defaultDebCache, "`directory` that keeps the downloaded .deb files between builds (created if missing; \"\" keeps none)")
}

func rootfsPull(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs pull", flag.ContinueOnError)
	imgName, platform, insecure, maxSize := pullFlags(fs)
	cfg, operands, err := rootfsFlags(fs, args, "pull [--name NAME] [flags] REF", 1, 1)
	if err != nil {
		return err
	}
	ref := operands[0]
	if *imgName == "" {
		if *imgName, err = install.NameFromRef(ref); err != nil {
			return err
		}
	}
	opts, err := installOptions(*platform, *maxSize)
	if err != nil {
		return err
	}
	opts.Insecure = *insecure
	return installWith(ctx, cfg, opts, func(w *rootfs.Writer, opts install.Options) (rootfs.Installed, error) {
		return install.Pull(ctx, w, ref, *imgName, opts)
	})
}

// installWith runs an install (a pull or an import) with the store locked
// and progress shown, and reports what it did.
func installWith(ctx context.Context, cfg config, opts install.Options,
	run func(*rootfs.Writer, install.Options) (rootfs.Installed, error)) error {
	d, w, err := lockStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Unlock()
	p := install.NewProgressPrinter(os.Stderr)
	opts.Progress = p.Update
	inst, err := run(w, opts)
	p.Done()
	if err != nil {
		return err
	}
	return reportInstalled(d, inst)
}

func rootfsImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs import", flag.ContinueOnError)
	imgName, tag, platform, maxSize := importFlags(fs)
	cfg, operands, err := rootfsFlags(fs, args, "import --name NAME [flags] FILE|DIR", 1, 1)
	if err != nil {
		return err
	}
	if *imgName == "" {
		fs.Usage()
		return exitCode(2)
	}
	opts, err := installOptions(*platform, *maxSize)
	if err != nil {
		return err
	}
	return installWith(ctx, cfg, opts, func(w *rootfs.Writer, opts install.Options) (rootfs.Installed, error) {
		return install.Import(ctx, w, operands[0], *tag, *imgName, opts)
	})
}

// defaultDebCache keeps the packages of image builds, so that a rebuild
// (or a fresh store on the same host) downloads only what changed.
const defaultDebCache = "/var/cache/atod/debs"

func rootfsBuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs build", flag.ContinueOnError)
	force, all, debCache := buildFlags(fs)
	cfg, operands, err := rootfsFlags(fs, args, fmt.Sprintf("build [--force] [--deb-cache DIR] RECIPE...\n       atod rootfs build [--force] [--deb-cache DIR] --all\n\nrecipes: %s", strings.Join(rootfs.Recipes(), " ")), 0, -1)
	if err != nil {
		return err
	}
	switch {
	case *all && len(operands) > 0:
		return fmt.Errorf("--all builds every recipe: name none (%s)", strings.Join(operands, " "))
	case *all:
		operands = rootfs.Recipes()
	case len(operands) == 0:
		fs.Usage()
		return exitCode(2)
	}
	d, w, err := lockStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Unlock()
	// One failed build does not keep the others from being built.
	var failed []string
	for _, name := range operands {
		inst, err := debian.Build(ctx, w, name, debian.Options{Force: *force, DebCache: *debCache, Log: os.Stderr})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && len(operands) == 1:
			return err
		case err != nil:
			fmt.Fprintf(os.Stderr, "atod: building %s: %v\n", name, err)
			failed = append(failed, name)
		case inst.Reused:
			fmt.Printf("%s is up to date (tree %.12s); --force rebuilds it\n", inst.Name, inst.ID)
		default:
			if err := reportInstalled(d, inst); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed to build: %s (each one's error is above)", len(failed), len(operands), strings.Join(failed, " "))
	}
	return nil
}

func rootfsList(args []string) error {
	fs := flag.NewFlagSet("atod rootfs list", flag.ContinueOnError)
	cfg, _, err := rootfsFlags(fs, args, "list [flags]", 0, 0)
	if err != nil {
		return err
	}
	cat, d, err := cfg.stores()
	if err != nil {
		return err
	}
	entries, err := d.List()
	if err != nil {
		return err
	}
	users := map[string][]string{} // image name → language ids
	for _, l := range cat.All() {
		users[l.Image] = append(users[l.Image], l.ID)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTREE\tSIZE\tCREATED\tAGE\tSOURCE\tLANGUAGES")
	now := time.Now()
	for _, e := range entries {
		names := strings.Join(e.Names, ",")
		if names == "" {
			names = "(unnamed: gc removes it once unused)"
		}
		var langs []string
		for _, n := range e.Names {
			langs = append(langs, users[n]...)
		}
		slices.Sort(langs)
		source := e.Source
		if e.Digest != "" {
			source += "@" + e.Digest
		}
		if e.Err != nil {
			source = "damaged: " + e.Err.Error()
		}
		created, age := "-", "-"
		if !e.Created.IsZero() {
			created, age = e.Created.Local().Format(time.DateTime), ageOf(now.Sub(e.Created))
		}
		fmt.Fprintf(tw, "%s\t%.12s\t%s\t%s\t%s\t%s\t%s\n", names, e.ID, mib(e.SizeBytes), created, age, source, orDash(strings.Join(langs, " ")))
	}
	return tw.Flush()
}

func rootfsRemove(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs rm", flag.ContinueOnError)
	cfg, operands, err := rootfsFlags(fs, args, "rm NAME...", 1, -1)
	if err != nil {
		return err
	}
	_, w, err := lockStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Unlock()
	var ids []string
	var errs []error
	for _, n := range operands {
		id, err := w.Remove(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Printf("removed %s (tree %.12s)\n", n, id)
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		c, err := w.GC(ids...)
		printCollected(c)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func rootfsGC(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs gc", flag.ContinueOnError)
	cfg, _, err := rootfsFlags(fs, args, "gc", 0, 0)
	if err != nil {
		return err
	}
	_, w, err := lockStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Unlock()
	c, err := w.GC()
	printCollected(c)
	if len(c.Removed) == 0 && len(c.Busy) == 0 && err == nil {
		fmt.Println("nothing to collect")
	}
	return err
}

// rootfsOwner prints the store's owner, or sets it to USER[:GROUP] (a name
// or a number; GROUP defaults to USER's group, or to the number USER is).
func rootfsOwner(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("atod rootfs owner", flag.ContinueOnError)
	cfg, operands, err := rootfsFlags(fs, args, "owner [USER[:GROUP]|root]", 0, 1)
	if err != nil {
		return err
	}
	if len(operands) == 0 {
		d, err := rootfs.OpenDir(cfg.Images)
		if err != nil {
			return err
		}
		o, err := d.Owner()
		if err != nil {
			return err
		}
		fmt.Println(describeOwner(o))
		return nil
	}
	o, err := lookupOwner(operands[0])
	if err != nil {
		return err
	}
	d, w, err := lockStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Unlock()
	if err := w.SetOwner(o); err != nil {
		return err
	}
	fmt.Printf("the images of %s are %s\n", d.Root(), describeOwner(o))
	return nil
}

// describeOwner says whose a store's images are.
func describeOwner(o rootfs.Owner) string {
	if o.IsRoot() {
		return "root's (0:0): for a root daemon"
	}
	name := ""
	if u, err := user.LookupId(strconv.Itoa(o.UID)); err == nil {
		name = u.Username + " "
	}
	return fmt.Sprintf("%s(%s)'s: for a rootless daemon run as that user", name, o)
}

// lookupOwner reads USER[:GROUP].
func lookupOwner(spec string) (rootfs.Owner, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var o rootfs.Owner
	if n, err := strconv.Atoi(userPart); err == nil && n >= 0 {
		o.UID, o.GID = n, n
	} else {
		u, err := user.Lookup(userPart)
		if err != nil {
			return o, fmt.Errorf("image store owner %q: %w", spec, err)
		}
		o.UID, _ = strconv.Atoi(u.Uid)
		o.GID, _ = strconv.Atoi(u.Gid)
	}
	if hasGroup {
		if n, err := strconv.Atoi(groupPart); err == nil && n >= 0 {
			o.GID = n
		} else {
			g, err := user.LookupGroup(groupPart)
			if err != nil {
				return o, fmt.Errorf("image store owner %q: %w", spec, err)
			}
			o.GID, _ = strconv.Atoi(g.Gid)
		}
	}
	return o, nil
}

func printCollected(c rootfs.Collected) {
	for _, id := range c.Removed {
		fmt.Printf("collected tree %.12s\n", id)
	}
	for _, id := range c.Busy {
		fmt.Printf("tree %.12s is in use by runs; a root daemon collects it when they end (under a rootless one: atod rootfs gc then)\n", id)
	}
	if c.Freed > 0 {
		fmt.Printf("freed %s\n", mib(c.Freed))
	}
}

func reportInstalled(d *rootfs.Dir, inst rootfs.Installed) error {
	how := "installed"
	if inst.Reused {
		how = "already had"
	}
	fmt.Printf("%s %s: tree %.12s", how, inst.Name, inst.ID)
	if inst.Digest != "" {
		fmt.Printf(", %s", inst.Digest)
	}
	fmt.Println()
	if inst.Previous != "" && slices.Contains(inst.Collected.Busy, inst.Previous) {
		fmt.Printf("%s pointed at tree %.12s before; the runs using it finish on it\n", inst.Name, inst.Previous)
	}
	printCollected(inst.Collected)
	if inst.CollectErr != nil {
		fmt.Fprintf(os.Stderr, "warning: the previous tree stays for now: %v\n", inst.CollectErr)
	}
	return nil
}

// installOptions turns the shared install flags into options.
func installOptions(platform string, maxSizeMiB int64) (install.Options, error) {
	var opts install.Options
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			return opts, fmt.Errorf("--platform %q: %w", platform, err)
		}
		opts.Platform = p
	}
	if maxSizeMiB <= 0 {
		return opts, fmt.Errorf("--max-size-mib must be positive, not %d", maxSizeMiB)
	}
	opts.Budget.Bytes = maxSizeMiB << 20
	return opts, nil
}

func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// ageOf says how old an image is, to the unit that matters for security
// updates: minutes within the hour, hours within two days, then days.
func ageOf(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", max(d, 0)/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	default:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
