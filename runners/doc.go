// Package runners is atod's language catalogue: for every language id, the
// runner script that runs a program in that language inside the sandbox, and
// the properties GET /api/v0/metadata publishes about it (name, image,
// version, url, sbcs, se_class), plus a hello-world case to smoke-test it.
//
// A catalogue is data, laid out as in this package's source directory:
//
//	languages.json    {"<id>": {"name": ..., "image": ..., "version": ...,
//	                   "url": ..., "sbcs": false, "se_class": ...,
//	                   "hello": {"code": ..., "input": ..., "options": [...],
//	                             "arguments": [...], "stdout": ...}}, ...}
//	scripts/<id>      the runner script of <id>, run as "bash /ATO/runner"
//
// The version served is the one the language's image recorded when it was
// built (a "version" line of its recipe in rootfs/recipes); "version" here
// is optional, served only for an image that recorded none (an operator's
// image, or one built before recipes had versions). The embedded catalogue
// types none: every one of its languages has a version line.
//
// Runner scripts follow the runner contract of docs/api.md ("The runner contract"):
// they find the program in /ATO/code, its stdin in /ATO/input, and the
// NUL-terminated entries of /ATO/options and /ATO/arguments, which they splice
// into a command line with /ATO/yargs.
//
// Embedded returns the catalogue compiled into atod; LoadDir reads an
// operator's replacement from a directory with the same layout. Both validate
// the whole catalogue and report every problem at once (see ErrInvalid).
// A loaded *Catalogue never changes and is safe for concurrent use.
//
// The package leaves to its callers whether an image named by a language
// exists (the rootfs store knows) and running scripts (the sandbox does).
package runners
