package protocol

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CloseCode is a websocket close status code the server sends
// (RFC 6455 section 7.4.1, https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1).
type CloseCode int

// The close codes of the contract.
const (
	CloseNormal          CloseCode = 1000 // the result was sent
	CloseGoingAway       CloseCode = 1001 // a v1 connection sat idle too long, or the server is shutting down (ours; the contract names none)
	CloseUnsupportedData CloseCode = 1003 // a text frame arrived
	ClosePolicyViolation CloseCode = 1008 // the request was invalid
	CloseMessageTooBig   CloseCode = 1009 // the request frame was larger than MaxRequestSize
	CloseInternalError   CloseCode = 1011 // something failed inside the server
	CloseTryAgainLater   CloseCode = 1013 // too many requests wait for a run slot (ours)
)

func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case CloseUnsupportedData:
		return "unsupported data"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case CloseInternalError:
		return "internal error"
	case CloseTryAgainLater:
		return "try again later"
	default:
		return "close code " + strconv.Itoa(int(c))
	}
}

// ReasonBinaryExpected is the close reason sent with CloseUnsupportedData.
const ReasonBinaryExpected = "expected a binary message"

// TooBigReason is the close reason sent with CloseMessageTooBig for a
// request frame of size bytes.
func TooBigReason(size int64) string {
	return "received message of size " + strconv.FormatInt(size, 10) +
		", greater than size limit " + strconv.Itoa(MaxRequestSize)
}

// reasonInternal is the close reason of CloseInternalError: fixed, so that
// nothing of the server's internals (paths, errors) reaches a client.
const reasonInternal = "internal server error"

// maxReasonBytes is the longest close reason a close frame can carry: a
// control frame's payload is at most 125 bytes, two of them the code
// (RFC 6455 section 5.5).
const maxReasonBytes = 123

// CloseFor maps an error to the close code and reason sent to the client;
// it is the one place that does. A nil error is a normal closure. A
// *RequestError (anywhere in err's chain) gives ClosePolicyViolation with
// its text, cut to fit a close frame; anything else gives
// CloseInternalError with a short fixed reason that leaks nothing.
func CloseFor(err error) (CloseCode, string) {
	if err == nil {
		return CloseNormal, ""
	}
	// Use the RequestError's own text, not err's: wrappers may add context
	// meant for logs only.
	if re, ok := errors.AsType[*RequestError](err); ok && re != nil {
		return ClosePolicyViolation, fitReason(re.Error())
	}
	return CloseInternalError, reasonInternal
}

// fitReason makes s a valid close reason: valid UTF-8 (RFC 6455 section 7.1.6) and
// at most maxReasonBytes long, cut at a character boundary.
func fitReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxReasonBytes {
		return s
	}
	n := maxReasonBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
