// Package depcheck holds a test that enforces the direction of imports
// between atod's packages (see the README's architecture section).
package depcheck
