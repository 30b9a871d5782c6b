package initproto

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlanEncode(t *testing.T) {
	p := Plan{{Name: "root", Args: []string{"/r"}}, {Name: "pivot"}, {Name: "exec", Args: []string{"/ATO/yargs"}}}
	got, err := p.Encode()
	if want := []byte("root\x00/r\x00pivot\x00exec\x00/ATO/yargs\x00"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Encode = %q, %v; want %q", got, err, want)
	}
	for _, c := range []struct {
		name string
		plan Plan
		want string
	}{
		{"unknown step", Plan{{Name: "chroot", Args: []string{"/"}}}, `unknown step "chroot"`},
		{"too few arguments", Plan{{Name: "mount", Args: []string{"a", "b"}}}, "takes 5 arguments, not 2"},
		{"too many arguments", Plan{{Name: "pivot", Args: []string{"x"}}}, "takes 0 arguments, not 1"},
		{"a NUL", Plan{{Name: "hostname", Args: []string{"a\x00b"}}}, "a NUL"},
		{"too big", Plan{{Name: "hostname", Args: []string{strings.Repeat("x", MaxPlanSize)}}}, "more than"},
	} {
		if b, err := c.plan.Encode(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Encode = %q, %v; want an error saying %q", c.name, b, err, c.want)
		}
	}
}
