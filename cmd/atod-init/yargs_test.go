package main

import (
	"reflect"
	"testing"
)

func TestSplitEntries(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{"", nil},
		{"\x00", []string{""}},
		{"a\x00", []string{"a"}},
		{"a\x00b c\x00", []string{"a", "b c"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
		{"a\x00tail", []string{"a", "tail"}},
	}
	for _, tt := range tests {
		if got := splitEntries([]byte(tt.data)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitEntries(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		entries []string
		want    []string
	}{
		{"replaces first only", []string{"python", "%1", "code", "%1"}, []string{"-O", "-u"}, []string{"python", "-O", "-u", "code", "%1"}},
		{"no entries removes placeholder", []string{"python", "%1", "code"}, nil, []string{"python", "code"}},
		{"no placeholder unchanged", []string{"python", "code"}, []string{"x"}, []string{"python", "code"}},
		{"chained yargs", []string{"/ATO/yargs", "%2", "/ATO/arguments", "python", "%1", "/ATO/code", "%2"}, []string{"-c"}, []string{"/ATO/yargs", "%2", "/ATO/arguments", "python", "-c", "/ATO/code", "%2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expand(tt.command, "%1", tt.entries); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expand = %q, want %q", got, tt.want)
			}
		})
	}
}
