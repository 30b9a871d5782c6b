// Package depcheck holds the one test of atod's package boundaries: a table
// of what each package may and may not import (see the README's
// architecture section), checked against `go list`.
package depcheck
