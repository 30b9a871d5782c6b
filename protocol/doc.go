// Package protocol holds atod's wire types and the rules that go with them:
// the msgpack request a client sends to the execute endpoints, the result and
// metadata the server sends back (with msgp-generated codecs), the
// validation of a request, and the mapping from an error to the websocket
// close code and reason a client receives.
//
// The package is pure: it does no I/O and knows nothing of sandboxes or
// connections. Callers read frames, enforce [MaxRequestSize] on them, decide
// which languages are configured (the known func of [DecodeRequest]) and send
// what [CloseFor] returns.
//
// The contract implemented here is docs/api.md of this repository: atod's
// statement of the v0 and v1 APIs of the service it is compatible with, and
// of its own HTTP API. Its byte-level details are binding.
package protocol
