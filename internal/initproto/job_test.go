package initproto

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestJobRoundTrip(t *testing.T) {
	want := Job{Command: []string{"/ATO/bash", "/ATO/runner"}, Env: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}}
	var b bytes.Buffer
	if err := WriteJob(&b, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJob(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Command, want.Command) || !slices.Equal(got.Env, want.Env) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestReadJobRefuses: a closed pipe with nothing is io.EOF (a discarded
// sandbox), and what init cannot run is an error, read no further than its
// bound.
func TestReadJobRefuses(t *testing.T) {
	if _, err := ReadJob(strings.NewReader("")); !errors.Is(err, io.EOF) {
		t.Errorf("empty: %v, want io.EOF", err)
	}
	for name, in := range map[string]io.Reader{
		"no command": strings.NewReader(`{"command":[],"env":["A=b"]}`),
		"not JSON":   strings.NewReader(`command`),
		"endless":    zeros{},
	} {
		c := &countingReader{r: in}
		if _, err := ReadJob(c); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: %v, want an error", name, err)
		}
		if c.n > MaxJobSize+1 {
			t.Errorf("%s: read %d bytes, more than %d", name, c.n, MaxJobSize+1)
		}
	}
	big := Job{Command: []string{"x"}, Env: []string{strings.Repeat("a", MaxJobSize)}}
	if err := WriteJob(io.Discard, big); err == nil {
		t.Errorf("a job of more than %d bytes was written", MaxJobSize)
	}
}
