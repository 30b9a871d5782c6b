package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/runners/hello"
)

// checkLanguages logs each language whose image is missing, with what to do
// about it, and returns how many languages can run.
func checkLanguages(log *slog.Logger, cat *runners.Catalogue, images rootfs.Store) int {
	n := 0
	for _, a := range availabilities(cat, images) {
		if a.err != nil {
			log.Warn("language cannot run", "language", a.ID, "image", a.Image, "err", a.err)
			continue
		}
		n++
	}
	return n
}

const languagesUsage = `usage: atod languages [--all] [flags]
       atod languages verify [--timeout S] [flags] [ID...]

Without --all, lists the languages that can run here: those whose image is
in the image store. --all lists every language of the catalogue and, for one
that cannot run, why and the command that fetches its image.

verify runs the hello-world case of each language named (default: every
runnable one) through the sandbox, as atod run does, and prints whether it
printed what it should. It exits with status 1 if any failed.

`

// languages is `atod languages`: the table of the catalogue's languages, or,
// after "verify", their hello-world cases run through the sandbox.
// cgroupView is as for runOne.
func languages(ctx context.Context, args []string, cgroupView string) error {
	if len(args) > 0 && args[0] == "verify" {
		return verifyLanguages(ctx, args[1:], cgroupView)
	}
	fs := flag.NewFlagSet("atod languages", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), languagesUsage)
		fs.PrintDefaults()
	}
	all := languagesFlags(fs)
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args, storeFlags)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		// "verify" after a flag lands here too: it must come first.
		fs.Usage()
		return exitCode(2)
	}
	cat, images, err := cfg.stores()
	if err != nil {
		return err
	}
	avail := availabilities(cat, images)
	if err := writeLanguages(os.Stdout, avail, *all); err != nil {
		return err
	}
	missing := 0
	for _, a := range avail {
		if a.err != nil {
			missing++
		}
	}
	switch {
	case missing == 0:
	case *all:
		fmt.Fprintf(os.Stderr, "\n%d of %d language(s) cannot run (image store %s)\n", missing, len(avail), cfg.Images)
	default:
		fmt.Fprintf(os.Stderr, "\n%d of %d language(s) cannot run (image store %s): "+
			"atod languages --all lists them with the commands that fetch their images\n", missing, len(avail), cfg.Images)
	}
	return nil
}

// availability is whether a language can run with the images installed.
type availability struct {
	runners.Language
	err error // the image store's answer for its image; nil: installed
}

// availabilities looks up the image of every language of cat, in ID order.
// It costs a Lookup per language. A language's version is the one its
// image recorded when it was built, where it has one, as the metadata
// endpoints serve it.
func availabilities(cat *runners.Catalogue, images rootfs.Store) []availability {
	var avail []availability
	for _, l := range cat.All() {
		img, err := images.Lookup(l.Image)
		if v := img.Versions[l.ID]; err == nil && v != "" {
			l.Version = v
		}
		avail = append(avail, availability{Language: l, err: err})
	}
	return avail
}

// status says whether the language can run and, if not, what to do.
func (a availability) status() string {
	switch {
	case a.err == nil:
		return "runnable"
	case errors.Is(a.err, image.ErrInvalidName):
		// No command can fetch an image no store can hold.
		return "invalid image name: fix the catalogue: " + a.err.Error()
	case errors.Is(a.err, image.ErrNotFound):
		return "image missing: " + rootfs.FetchHint(a.Image)
	default:
		return "image unreadable: " + a.err.Error()
	}
}

// writeLanguages prints the table of atod languages: the runnable languages,
// or with all every one and its status.
func writeLanguages(w io.Writer, avail []availability, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if all {
		fmt.Fprintln(tw, "ID\tNAME\tVERSION\tIMAGE\tSTATUS")
	} else {
		fmt.Fprintln(tw, "ID\tNAME\tVERSION\tIMAGE")
	}
	for _, a := range avail {
		switch {
		case all:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, cell(a.Name), cell(a.Version), a.Image, cell(a.status()))
		case a.err == nil:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, cell(a.Name), cell(a.Version), a.Image)
		}
	}
	return tw.Flush()
}

// languagesFlags and verifyFlags define the languages commands' own flags
// (commandTree describes them too).
func languagesFlags(fs *flag.FlagSet) (all *bool) {
	return fs.Bool("all", false, "list every language, with what one that cannot run needs")
}

func verifyFlags(fs *flag.FlagSet) (timeout *int) {
	return fs.Int("timeout", protocol.DefaultTimeout, "timeout of each run in `seconds` (1-60)")
}

// verifyLanguages is `atod languages verify`.
func verifyLanguages(ctx context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod languages verify", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), languagesUsage)
		fs.PrintDefaults()
	}
	timeout := verifyFlags(fs)
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args, storeFlags|sandboxFlags)
	if err != nil {
		return err
	}
	// Flags may follow the IDs too.
	var ids []string
	for len(rest) > 0 {
		ids = append(ids, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		rest = fs.Args()
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	anyLanguage := func(string) bool { return true }
	if err := (protocol.Request{Timeout: *timeout}).Validate(anyLanguage); err != nil {
		return fmt.Errorf("checking --timeout: %w", err)
	}
	log := cfg.logger(os.Stderr)
	cat, images, err := cfg.stores()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		for _, a := range availabilities(cat, images) {
			if a.err == nil {
				ids = append(ids, a.ID)
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("no language can run with the images in %s: atod languages --all says what each needs", cfg.Images)
		}
	}
	srv, done, err := cfg.oneShot(log, cgroupView, cat, images)
	if err != nil {
		return err
	}
	defer done()
	v := hello.Verifier{Executor: srv, Catalogue: cat, Timeout: *timeout, Unavailable: func(l runners.Language) string {
		if _, err := images.Lookup(l.Image); err != nil {
			return availability{Language: l, err: err}.status()
		}
		return ""
	}}
	checks, runErr := v.Verify(ctx, ids)
	if err := hello.WriteTable(os.Stdout, checks); err != nil {
		return err
	}
	failed := 0
	for _, c := range checks {
		if c.Fail == "" {
			continue
		}
		failed++
		if len(c.Stderr) > 0 {
			fmt.Fprintf(os.Stderr, "\n%s: stderr of the run:\n%s\n", c.ID, strings.TrimSuffix(clip(c.Stderr, maxShownStderr), "\n"))
		}
	}
	if runErr != nil {
		return runErr
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "\n%d of %d language(s) failed\n", failed, len(checks))
		return exitCode(1)
	}
	return nil
}

// maxShownStderr bounds the stderr verify shows of each failed run.
const maxShownStderr = 4 << 10

// clip returns at most n bytes of b, and says how many it left out.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s\n[%d more bytes]", b[:n], len(b)-n)
}

// cell makes s one cell of a table: a tab or a line break (in an error's
// text, say) would break the table's columns.
func cell(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
