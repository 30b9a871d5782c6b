package protocol

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCloseFor(t *testing.T) {
	long := &RequestError{Reason: "no such language: x" + strings.Repeat("é", 100)} // é is 2 bytes; byte 123 is mid-character
	tests := []struct {
		name       string
		err        error
		wantCode   CloseCode
		wantReason string
	}{
		{"nil", nil, CloseNormal, ""},
		{"request error", &RequestError{Reason: "found extra data"}, ClosePolicyViolation, "invalid request: found extra data"},
		{
			"wrapped request error keeps only its own text",
			fmt.Errorf("decoding request from /srv/secret: %w", &RequestError{Reason: "no such language: ZSH"}),
			ClosePolicyViolation, "invalid request: no such language: ZSH",
		},
		{"decoded request error", func() error { _, err := DecodeRequest([]byte{0xc0}, nil); return err }(), ClosePolicyViolation, "invalid request: not a msgpack map"},
		{"internal error leaks nothing", fmt.Errorf("starting container in /var/lib/atod/x: %w", errors.New("EPERM")), CloseInternalError, "internal server error"},
		{"long reason cut at a character boundary", long, ClosePolicyViolation, long.Error()[:122]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := CloseFor(tt.err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("CloseFor() = %d %q, want %d %q", code, reason, tt.wantCode, tt.wantReason)
			}
			if len(reason) > 123 || !utf8.ValidString(reason) {
				t.Errorf("CloseFor() reason %q is not a valid close reason", reason)
			}
		})
	}
}

func TestCloseForInvalidUTF8(t *testing.T) {
	_, reason := CloseFor(&RequestError{Reason: "x\xffy"})
	if reason != "invalid request: x\uFFFDy" {
		t.Errorf("CloseFor() reason = %q, want the invalid byte replaced", reason)
	}
}

func TestTooBigReason(t *testing.T) {
	if got, want := TooBigReason(65537), "received message of size 65537, greater than size limit 65536"; got != want {
		t.Errorf("TooBigReason(65537) = %q, want %q", got, want)
	}
}

func TestCloseCodeString(t *testing.T) {
	for code, want := range map[CloseCode]string{
		CloseNormal:          "normal closure",
		CloseUnsupportedData: "unsupported data",
		ClosePolicyViolation: "policy violation",
		CloseMessageTooBig:   "message too big",
		CloseInternalError:   "internal error",
		CloseTryAgainLater:   "try again later",
		CloseGoingAway:       "going away",
		1002:                 "close code 1002",
	} {
		if got := code.String(); got != want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", int(code), got, want)
		}
	}
	if CloseNormal != 1000 || CloseUnsupportedData != 1003 || ClosePolicyViolation != 1008 ||
		CloseMessageTooBig != 1009 || CloseInternalError != 1011 {
		t.Error("close codes differ from RFC 6455")
	}
}
