// Package hello checks that a catalogue's languages work: it runs each
// language's hello-world case through an executor (atod's server, the path
// a client's request takes) and judges the result, for `atod languages
// verify`.
package hello

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/runners"
	"github.com/atod-project/atod/sandbox/job"
)

// Executor runs one request to its result; *server.Server is atod's.
type Executor interface {
	Execute(ctx context.Context, req protocol.Request) (protocol.Result, error)
}

// Check is how one language's hello-world case went.
type Check struct {
	ID      string
	Fail    string        // why it failed; "" when it passed
	Ran     bool          // it reached the executor; Elapsed is its wall time
	Elapsed time.Duration // wall time of Execute
	Stderr  []byte        // the run's stderr, kept when it failed
}

// Verifier runs hello-world cases.
type Verifier struct {
	Executor  Executor
	Catalogue *runners.Catalogue
	Timeout   int // of each run, in seconds
	// Unavailable says why a language cannot run here, "" when it can
	// (its image is missing, say); such a language fails without a run.
	// Nil: every language can.
	Unavailable func(runners.Language) string
}

// Verify runs the hello-world case of every language of ids, one after the
// other. An unknown id, an unavailable language or a failed run is a failed
// check, not an error; the error is ctx's, when it ends before every check
// is done (the checks so far are returned with it).
func (v *Verifier) Verify(ctx context.Context, ids []string) ([]Check, error) {
	var checks []Check
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return checks, fmt.Errorf("verifying languages: %w", err)
		}
		l, ok := v.Catalogue.Lookup(id)
		if !ok {
			checks = append(checks, Check{ID: id, Fail: "unknown language"})
			continue
		}
		if v.Unavailable != nil {
			if why := v.Unavailable(l); why != "" {
				checks = append(checks, Check{ID: id, Fail: why})
				continue
			}
		}
		start := time.Now()
		res, err := v.Executor.Execute(ctx, Request(l, v.Timeout))
		c := Check{ID: id, Ran: true, Elapsed: time.Since(start)}
		switch {
		case ctx.Err() != nil:
			// The run was killed for the interruption, not for a fault
			// of the language.
			c.Fail = "interrupted"
		case err != nil:
			c.Fail = err.Error()
		default:
			c.Fail = Judge(l.Hello, res)
		}
		if c.Fail != "" {
			c.Stderr = res.Stderr
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// Request is the request of l's hello-world case, with a timeout of
// timeout seconds.
func Request(l runners.Language, timeout int) protocol.Request {
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

// Judge says why res is not the result h wants ("" when it is): the run
// must exit with status 0 and print exactly h.Stdout.
func Judge(h runners.HelloCase, res protocol.Result) string {
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

// WriteTable prints checks as a table: each language, pass or why it
// failed, and the run's wall time.
func WriteTable(w io.Writer, checks []Check) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRESULT\tTIME")
	for _, c := range checks {
		result := "pass"
		if c.Fail != "" {
			result = "fail: " + c.Fail
		}
		t := "-"
		if c.Ran {
			t = fmt.Sprintf("%d ms", c.Elapsed.Milliseconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", oneLine(c.ID), oneLine(result), t)
	}
	return tw.Flush()
}

// oneLine makes s fit one cell of a table: a tab or a line break (in an
// error's text, say) would break the table's columns.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
