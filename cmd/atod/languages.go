package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/sandbox/job"
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
	all := fs.Bool("all", false, "list every language, with what one that cannot run needs")
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args)
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
// It costs a Lookup per language.
func availabilities(cat *runners.Catalogue, images rootfs.Store) []availability {
	var avail []availability
	for _, l := range cat.All() {
		_, err := images.Lookup(l.Image)
		avail = append(avail, availability{Language: l, err: err})
	}
	return avail
}

// status says whether the language can run and, if not, what to do.
func (a availability) status() string {
	switch {
	case a.err == nil:
		return "runnable"
	case errors.Is(a.err, rootfs.ErrInvalidName):
		// No command can fetch an image no store can hold.
		return "invalid image name: fix the catalogue: " + a.err.Error()
	case errors.Is(a.err, rootfs.ErrNotFound):
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

// verifyLanguages is `atod languages verify`.
func verifyLanguages(ctx context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod languages verify", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), languagesUsage)
		fs.PrintDefaults()
	}
	timeout := fs.Int("timeout", protocol.DefaultTimeout, "timeout of each run in `seconds` (1-60)")
	cfg := defaultConfig()
	rest, err := cfg.parseFlags(fs, args)
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
	sb, err := cfg.sandbox(log, cgroupView)
	if err != nil {
		return err
	}
	defer sb.Close()
	srv, err := cfg.server(log, cat, images, sb)
	if err != nil {
		return err
	}
	checks, runErr := verifyHellos(ctx, srv, cat, images, ids, *timeout)
	if err := writeChecks(os.Stdout, checks); err != nil {
		return err
	}
	failed := 0
	for _, c := range checks {
		if c.fail == "" {
			continue
		}
		failed++
		if len(c.stderr) > 0 {
			fmt.Fprintf(os.Stderr, "\n%s: stderr of the run:\n%s\n", c.id, strings.TrimSuffix(clip(c.stderr, maxShownStderr), "\n"))
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

// executor runs one request to its result; *server.Server is atod's.
type executor interface {
	Execute(ctx context.Context, req protocol.Request) (protocol.Result, error)
}

// helloCheck is how one language's hello-world case went.
type helloCheck struct {
	id      string
	fail    string        // why it failed; "" when it passed
	ran     bool          // it reached the executor; elapsed is its wall time
	elapsed time.Duration // wall time of Execute
	stderr  []byte        // the run's stderr, kept when it failed
}

// verifyHellos runs the hello-world case of every language of ids through
// ex, one after the other, with a timeout of timeout seconds each. An unknown
// id, a missing image or a failed run is a failed check, not an error; the
// error is ctx's, when it ends before every check is done (the checks so
// far are returned with it).
func verifyHellos(ctx context.Context, ex executor, cat *runners.Catalogue, images rootfs.Store, ids []string, timeout int) ([]helloCheck, error) {
	var checks []helloCheck
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return checks, fmt.Errorf("verifying languages: %w", err)
		}
		l, ok := cat.Lookup(id)
		if !ok {
			checks = append(checks, helloCheck{id: id, fail: "unknown language"})
			continue
		}
		if _, err := images.Lookup(l.Image); err != nil {
			a := availability{Language: l, err: err}
			checks = append(checks, helloCheck{id: id, fail: a.status()})
			continue
		}
		start := time.Now()
		res, err := ex.Execute(ctx, helloRequest(l, timeout))
		c := helloCheck{id: id, ran: true, elapsed: time.Since(start)}
		switch {
		case ctx.Err() != nil:
			// The run was killed for the interruption, not for a fault
			// of the language.
			c.fail = "interrupted"
		case err != nil:
			c.fail = err.Error()
		default:
			c.fail = judgeHello(l.Hello, res)
		}
		if c.fail != "" {
			c.stderr = res.Stderr
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// helloRequest is the request of l's hello-world case.
func helloRequest(l runners.Language, timeout int) protocol.Request {
	req := protocol.Request{
		Language: l.ID,
		Code:     []byte(l.Hello.Code),
		Input:    []byte(l.Hello.Input),
		Timeout:  timeout,
	}
	for _, o := range l.Hello.Options {
		req.Options = append(req.Options, []byte(o))
	}
	for _, a := range l.Hello.Arguments {
		req.Arguments = append(req.Arguments, []byte(a))
	}
	return req
}

// judgeHello says why res is not the result h wants ("" when it is): the
// run must exit with status 0 and print exactly h.Stdout.
func judgeHello(h runners.HelloCase, res protocol.Result) string {
	switch {
	case res.TimedOut:
		return "timed out"
	case res.StatusType == job.StatusExited.String() && res.StatusValue != 0:
		return fmt.Sprintf("exit %d", res.StatusValue)
	case res.StatusType == job.StatusKilled.String():
		return fmt.Sprintf("killed by signal %d", res.StatusValue)
	case res.StatusType == job.StatusCoreDumped.String():
		return fmt.Sprintf("dumped core on signal %d", res.StatusValue)
	case res.StatusType != job.StatusExited.String():
		return fmt.Sprintf("status %s/%d", res.StatusType, res.StatusValue)
	case string(res.Stdout) != h.Stdout:
		return fmt.Sprintf("stdout %s want %s", quoteClipped(res.Stdout), quoteClipped([]byte(h.Stdout)))
	}
	return ""
}

// maxQuoted bounds the bytes of output a failure reason quotes.
const maxQuoted = 40

// quoteClipped quotes the first maxQuoted bytes of b, and marks a cut.
func quoteClipped(b []byte) string {
	if len(b) <= maxQuoted {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:maxQuoted])) + "..."
}

// clip returns at most n bytes of b, and says how many it left out.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s\n[%d more bytes]", b[:n], len(b)-n)
}

// writeChecks prints the table of atod languages verify.
func writeChecks(w io.Writer, checks []helloCheck) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRESULT\tTIME")
	for _, c := range checks {
		result := "pass"
		if c.fail != "" {
			result = "fail: " + c.fail
		}
		t := "-"
		if c.ran {
			t = fmt.Sprintf("%d ms", c.elapsed.Milliseconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cell(c.id), cell(result), t)
	}
	return tw.Flush()
}

// cell makes s one cell of a table: a tab or a line break (in an error's
// text, say) would break the table's columns.
func cell(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
