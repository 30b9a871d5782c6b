package protocol

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// File is one entry of a request's optional "files" map, an extension of
// ours on the v1 websocket and the HTTP API (the v0 endpoint ignores the
// key): a file written into the run's working directory, /ATO/context,
// before its runner starts. Path is relative to that directory, and may
// name subdirectories, which are made.
type File struct {
	Path string
	Data []byte
}

// Bounds of a request's files (the request's size bounds their contents).
const (
	maxFiles        = 256  // entries of the map
	maxFilePath     = 1024 // bytes of a path
	maxFileNamePart = 255  // bytes of one of its components (NAME_MAX)
)

// checkFilePath refuses a path that is not a plain relative one below the
// working directory: empty, absolute, with an empty, "." or ".."
// component, a NUL, invalid UTF-8, or too long.
func checkFilePath(p string) error {
	shown := p
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	switch {
	case p == "":
		return invalid("files: an empty path")
	case len(p) > maxFilePath:
		return invalid("files: the path %q is longer than %d bytes", shown, maxFilePath)
	case strings.IndexByte(p, 0) >= 0:
		return invalid("files: the path %q holds a NUL byte", shown)
	case !utf8.ValidString(p):
		return invalid("files: the path %q is not valid UTF-8", shown)
	case p[0] == '/':
		return invalid("files: the path %q is absolute; paths are relative to the working directory, /ATO/context", shown)
	}
	for part := range strings.SplitSeq(p, "/") {
		switch {
		case part == "" || part == ".":
			return invalid("files: the path %q has an empty or \".\" component", shown)
		case part == "..":
			return invalid("files: the path %q has a \"..\" component, which would leave the working directory", shown)
		case len(part) > maxFileNamePart:
			return invalid("files: the path %q has a component longer than %d bytes", shown, maxFileNamePart)
		}
	}
	return nil
}

// checkFiles checks files' paths, and that no path is both a file and a
// directory (another's parent). It sorts files by path.
func checkFiles(files []File) error {
	if len(files) > maxFiles {
		return invalid("files: %d files, more than %d", len(files), maxFiles)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	for i, f := range files {
		if err := checkFilePath(f.Path); err != nil {
			return err
		}
		if i > 0 && files[i-1].Path == f.Path {
			return invalid("duplicate field: files[%q]", f.Path)
		}
	}
	// A parent sorts before its children, but not always right before
	// them ("a" < "a.txt" < "a/b"): look for every path's parents.
	paths := make(map[string]bool, len(files))
	for _, f := range files {
		paths[f.Path] = true
	}
	for _, f := range files {
		for dir := f.Path; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if paths[dir] {
				return invalid("files: %q is a file, and a directory of %q", dir, f.Path)
			}
		}
	}
	return nil
}

// readFiles reads a files map: nil (as good as absent), or a map of paths
// (str or bin) to contents (bin, str or an array of bytes, as any byte
// string of a request).
func readFiles(b []byte) (files []File, rest []byte, err error) {
	n, isNil, b, err := readOptionalMap(b, "files")
	if err != nil || isNil {
		return nil, b, err
	}
	if n > maxFiles {
		return nil, b, invalid("files: %d files, more than %d", n, maxFiles)
	}
	files = make([]File, 0, min(uint64(n), uint64(len(b))))
	for range n {
		var path []byte
		switch t := msgp.NextType(b); t {
		case msgp.StrType:
			path, b, err = msgp.ReadStringZC(b)
		case msgp.BinType:
			path, b, err = msgp.ReadBytesZC(b)
		case msgp.InvalidType:
			_, err = msgp.Skip(b)
			return nil, b, invalidMsgpack(err)
		default:
			return nil, b, invalid("files: expected a path, got %s", typeName(t))
		}
		if err != nil {
			return nil, b, invalidMsgpack(err)
		}
		f := File{Path: string(path)}
		if f.Data, b, err = readBinary(b, place{fieldFiles, noIndex}); err != nil {
			return nil, b, err
		}
		files = append(files, f)
	}
	return files, b, checkFiles(files)
}

// jsonFiles decodes the JSON value of a request's files: an object of
// paths to byte strings (see Bytes), or null.
func jsonFiles(raw json.RawMessage) ([]File, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, invalid("files: expected an object")
	}
	var files []File
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("files: %v", jsonProblem(err))
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, invalid("files: %v", jsonProblem(err))
		}
		f := File{Path: tok.(string)}
		if f.Data, err = bytesJSON(value, true); err != nil {
			return nil, invalid("files[%q]: %v", f.Path, err)
		}
		files = append(files, f)
		if len(files) > maxFiles {
			return nil, invalid("files: more than %d files", maxFiles)
		}
	}
	return files, checkFiles(files)
}
