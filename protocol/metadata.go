package protocol

//go:generate msgp

// Metadata is the body of GET /api/v0/metadata: every runnable language,
// keyed by the id a request names in its language field.
type Metadata map[string]LanguageInfo

// LanguageInfo describes one language in [Metadata].
type LanguageInfo struct {
	Name    string `msg:"name" json:"name"`       // human-readable name
	Image   string `msg:"image" json:"image"`     // the image the language runs in
	Version string `msg:"version" json:"version"` // version constraints (not a guarantee)
	URL     string `msg:"url" json:"url"`         // the language's home page
	SBCS    bool   `msg:"sbcs" json:"sbcs"`       // byte counters should count every character as one byte

	// SEClass is the syntax-highlighting class for Stack Exchange posts;
	// omitted from the wire when empty, as the contract allows.
	SEClass string `msg:"se_class,omitempty" json:"se_class,omitempty"`
}
