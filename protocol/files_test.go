package protocol

import (
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// filesMap encodes a files map of paths and contents.
func filesMap(kv ...string) []byte {
	b := msgp.AppendMapHeader(nil, uint32(len(kv)/2))
	for i := 0; i < len(kv); i += 2 {
		b = msgp.AppendString(b, kv[i])
		b = msgp.AppendBytes(b, []byte(kv[i+1]))
	}
	return b
}

func TestDecodeFiles(t *testing.T) {
	long := strings.Repeat("d/", 600) + "f"
	tests := []struct {
		name   string
		value  []byte
		want   []File
		reason string
	}{
		{"nested, sorted", filesMap("src/b.c", "int b;", "h.h", "#define X", "pkg/__init__.py", ""),
			[]File{{"h.h", []byte("#define X")}, {"pkg/__init__.py", []byte{}}, {"src/b.c", []byte("int b;")}}, ""},
		{"str content", append(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "a"), msgp.AppendString(nil, "text")...), []File{{"a", []byte("text")}}, ""},
		{"nil", msgp.AppendNil(nil), nil, ""},
		{"not a map", msgp.AppendArrayHeader(nil, 0), nil, "invalid request: files: expected a map, got array"},
		{"absolute", filesMap("/etc/passwd", "x"), nil, `invalid request: files: the path "/etc/passwd" is absolute*`},
		{"dot dot", filesMap("a/../../b", "x"), nil, `invalid request: files: the path "a/../../b" has a ".." component*`},
		{"dot", filesMap("./a", "x"), nil, `invalid request: files: the path "./a" has an empty or "." component`},
		{"empty component", filesMap("a//b", "x"), nil, `invalid request: files: the path "a//b" has an empty or "." component`},
		{"trailing slash", filesMap("a/", "x"), nil, `invalid request: files: the path "a/" has an empty or "." component`},
		{"empty", filesMap("", "x"), nil, "invalid request: files: an empty path"},
		{"NUL", filesMap("a\x00b", "x"), nil, `invalid request: files: the path "a\x00b" holds a NUL byte`},
		{"too long", filesMap(long, "x"), nil, "invalid request: files: the path * is longer than 1024 bytes"},
		{"long component", filesMap(strings.Repeat("n", 256), "x"), nil, "invalid request: files: the path * has a component longer than 255 bytes"},
		{"file and directory", filesMap("a", "x", "a.txt", "y", "a/b", "z"), nil, `invalid request: files: "a" is a file, and a directory of "a/b"`},
		{"duplicate", filesMap("a", "x", "a", "y"), nil, `invalid request: duplicate field: files["a"]`},
		{"content of a wrong type", append(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "a"), msgp.AppendInt(nil, 5)...), nil, "invalid request: files: expected bin, str or array of bytes, got int"},
		{"path of a wrong type", append(msgp.AppendInt(msgp.AppendMapHeader(nil, 1), 5), msgp.AppendString(nil, "x")...), nil, "invalid request: files: expected a path, got int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := validMap().Set("files", tt.value).Bytes()
			got, err := DecodeV1Request(frame, knownLanguages)
			if tt.reason != "" {
				if err == nil || !wildcard(err.Error(), tt.reason) {
					t.Fatalf("error %v, want %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Files) != len(tt.want) {
				t.Fatalf("files %q, want %q", got.Files, tt.want)
			}
			for i := range got.Files {
				if got.Files[i].Path != tt.want[i].Path || string(got.Files[i].Data) != string(tt.want[i].Data) {
					t.Errorf("file %d: %q, want %q", i, got.Files[i], tt.want[i])
				}
			}
			if v0, err := DecodeRequest(frame, knownLanguages); err != nil || v0.Files != nil {
				t.Errorf("v0: %v, %v; want the key skipped", v0.Files, err)
			}
		})
	}
	frame := validMap().Set("files", filesMap("/etc/passwd", "x")).Bytes()
	if r, err := DecodeRequest(frame, knownLanguages); err != nil || r.Files != nil {
		t.Errorf("v0 with a bad file: %v, %v; want the key skipped", r.Files, err)
	}
}

func TestDecodeJSONFiles(t *testing.T) {
	base := `"language": "python", "code": "print(1)", "input": "", "options": [], "arguments": []`
	for _, c := range []struct {
		name, files, reason string
		want                []File
	}{
		{"forms", `{"b/x.bin": {"base64": "/wA="}, "a.txt": "hi", "c": [104, 105]}`, "", []File{{"a.txt", []byte("hi")}, {"b/x.bin", []byte{0xff, 0}}, {"c", []byte("hi")}}},
		{"null", `null`, "", nil},
		{"not an object", `["a"]`, "invalid request: files: expected an object", nil},
		{"bad content", `{"a": 5}`, `invalid request: files["a"]: expected a string, {"base64": "..."} or an array of bytes`, nil},
		{"escape", `{"../x": "y"}`, `invalid request: files: the path "../x" has a ".." component, which would leave the working directory`, nil},
		{"duplicate", `{"a": "x", "a": "y"}`, `invalid request: duplicate field: files["a"]`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeJSONRequest([]byte("{"+base+`, "files": `+c.files+"}"), func(id string) bool { return id == "python" })
			if c.reason != "" {
				if err == nil || err.Error() != c.reason {
					t.Fatalf("error %v, want %q", err, c.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Files) != len(c.want) {
				t.Fatalf("files %q, want %q", got.Files, c.want)
			}
			for i := range got.Files {
				if got.Files[i].Path != c.want[i].Path || string(got.Files[i].Data) != string(c.want[i].Data) {
					t.Errorf("file %d: %q, want %q", i, got.Files[i], c.want[i])
				}
			}
		})
	}
}

// wildcard reports whether got is want, where each "*" of want matches any
// text.
func wildcard(got, want string) bool {
	parts := strings.Split(want, "*")
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	got = got[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(got, p)
		}
		j := strings.Index(got, p)
		if j < 0 {
			return false
		}
		got = got[j+len(p):]
	}
	return got == ""
}
