package initproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// countingReader counts what Read takes from a stream.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// zeros is an endless stream of NUL bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// jsonString is s as encoding/json round-trips it: each byte of an invalid
// UTF-8 sequence becomes U+FFFD.
func jsonString(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // an invalid byte ranges as utf8.RuneError, width 1
	}
	return b.String()
}

// FuzzReport checks the report's two ends. Read, given whatever init's pipe
// holds: never takes more than MaxSize bytes from it (a run cannot make the
// daemon read without end), says io.EOF only when there was nothing (the
// daemon takes that for init killed), and what it accepts is a report that
// Write reproduces exactly. Write, given any report with an error text of
// up to maxError bytes (init's are far shorter): Read gives back the same
// report, and it fits in MaxSize. The seed corpus is in
// testdata/fuzz/FuzzReport.
func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"wait_status":256,"real_ns":1,"usage":{"user_ns":2,"max_rss_kib":3}}`+"\n"),
		uint32(256), int64(1), int64(2), int64(3), int64(4), "starting /ATO/runner: permission denied")
	f.Fuzz(func(t *testing.T, pipe []byte, status uint32, realNs, userNs, maxRSS, nivcsw int64, errText string) {
		// Read's side.
		rep, err := Read(bytes.NewReader(pipe))
		if errors.Is(err, io.EOF) != (len(pipe) == 0) {
			t.Fatalf("Read of %d bytes: %v (io.EOF must mean nothing was written)", len(pipe), err)
		}
		endless := &countingReader{r: io.MultiReader(bytes.NewReader(pipe), zeros{})}
		if _, err := Read(endless); err == nil || endless.n > MaxSize {
			t.Fatalf("Read of an endless pipe took %d bytes: %v", endless.n, err)
		}
		if err == nil {
			var buf bytes.Buffer
			if err := Write(&buf, rep); err != nil {
				t.Fatal(err)
			}
			again, err := Read(&buf)
			if err != nil || again != rep {
				t.Fatalf("accepted report %+v reads back as %+v, %v", rep, again, err)
			}
		}

		// Write's side.
		const maxError = 512
		if len(errText) > maxError {
			errText = errText[:maxError]
		}
		want := Report{WaitStatus: status, RealNs: realNs, Error: errText,
			Usage: Usage{UserNs: userNs, SystemNs: -userNs, MaxRSS: maxRSS, Minflt: realNs, Majflt: maxRSS,
				Inblock: userNs, Oublock: realNs, Nvcsw: -nivcsw, Nivcsw: nivcsw}}
		var buf bytes.Buffer
		if err := Write(&buf, want); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > MaxSize {
			t.Fatalf("a report with a %d-byte error is %d bytes, more than the %d the daemon reads", len(errText), buf.Len(), MaxSize)
		}
		got, err := Read(&buf)
		if err != nil {
			t.Fatalf("reading back %+v: %v", want, err)
		}
		want.Error = jsonString(want.Error)
		if got != want || !utf8.ValidString(got.Error) {
			t.Fatalf("report %+v read back as %+v", want, got)
		}
	})
}
