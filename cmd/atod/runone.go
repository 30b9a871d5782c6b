package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/atod-project/atod/internal/term"
	"github.com/atod-project/atod/protocol"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runFlags defines `atod run`'s own flags (commandTree describes them too).
func runFlags(fs *flag.FlagSet) (language, input *string, timeout *int, stats *bool, options *stringList) {
	options = &stringList{}
	fs.Var(options, "option", "an `option` for the interpreter or compiler (repeatable)")
	return fs.String("language", "", "language `id` (see atod languages)"),
		fs.String("input", "", "`file` to use as the program's standard input (default: atod's own, unless it is a terminal)"),
		fs.Int("timeout", protocol.DefaultTimeout, "timeout in `seconds` (1-60)"),
		fs.Bool("stats", false, "print how the program ended and its statistics on stderr"),
		options
}

// runOne runs one program through the same path as the API, as a command
// line tool does: its standard input is the program's (unless --input names
// a file; a terminal gives none), its output goes to stdout and stderr, the
// daemon's log stays out (but warnings, unless --log-level says otherwise),
// and its exit status is the program's (programExit). --stats adds the
// run's statistics on stderr: the operator's debugging aid.
func runOne(ctx context.Context, args []string, cgroupView string) error {
	fs := flag.NewFlagSet("atod run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: atod run --language ID [--input FILE] [--option OPT]... [--timeout S] [--stats] FILE [-- ARGS...]")
		fs.PrintDefaults()
	}
	language, input, timeout, stats, options := runFlags(fs)
	cfg := defaultConfig()
	// A one-shot command: the daemon's request lines stay out, whatever a
	// configuration file says, unless --log-level asks.
	cfg.LogLevel = "warn"
	rest, err := cfg.parseFlags(fs, args, storeFlags|sandboxFlags)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fs.Usage()
		return exitCode(2)
	}
	// Flags may follow FILE too; what follows them (or "--") is the
	// program's arguments.
	file := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	programArgs := fs.Args()
	if *language == "" {
		fs.Usage()
		return exitCode(2)
	}
	code, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the program: %w", err)
	}
	req := protocol.Request{Language: *language, Code: code, Timeout: *timeout}
	switch {
	case *input != "":
		if req.Input, err = os.ReadFile(*input); err != nil {
			return fmt.Errorf("reading the input: %w", err)
		}
	case !term.IsTerminal(os.Stdin):
		// What is piped in, up to what a request may hold (more is the
		// request's error, as on the API).
		if req.Input, err = io.ReadAll(io.LimitReader(os.Stdin, protocol.MaxRequestSize+1)); err != nil {
			return fmt.Errorf("reading the input from stdin: %w", err)
		}
	}
	for _, o := range *options {
		req.Options = append(req.Options, []byte(o))
	}
	for _, a := range programArgs {
		req.Arguments = append(req.Arguments, []byte(a))
	}
	log := cfg.logger(os.Stderr)
	cat, images, err := cfg.stores()
	if err != nil {
		return err
	}
	srv, done, err := cfg.oneShot(log, cgroupView, cat, images)
	if err != nil {
		return err
	}
	defer done()
	res, err := srv.Execute(ctx, req)
	if err != nil {
		return err
	}
	os.Stdout.Write(res.Stdout)
	os.Stderr.Write(res.Stderr)
	if *stats {
		fmt.Fprintf(os.Stderr, "\n-- %s/%d timed_out=%v real=%.3fms user=%.3fms kernel=%.3fms max_mem=%dKiB waits=%d preemptions=%d minor_faults=%d major_faults=%d\n",
			res.StatusType, res.StatusValue, res.TimedOut,
			float64(res.Real)/1e6, float64(res.User)/1e6, float64(res.Kernel)/1e6, res.MaxMem,
			res.Waits, res.Preemptions, res.MinorPageFaults, res.MajorPageFaults)
	}
	if code := programExit(res); code != 0 {
		return exitCode(code)
	}
	return nil
}

// programExit is the exit status of `atod run` for a program that ended
// so: its own exit status; 124 when its timeout killed it (as timeout(1)
// says); 128+N when signal N ended it (as a shell says); 125 when how it
// ended is unknown.
func programExit(res protocol.Result) int {
	switch {
	case res.TimedOut:
		return 124
	case res.StatusType == "exited":
		return res.StatusValue
	case res.StatusType == "killed", res.StatusType == "core_dumped":
		return 128 + res.StatusValue
	default:
		return 125
	}
}
