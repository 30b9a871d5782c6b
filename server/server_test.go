package server_test

import (
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tinylib/msgp/msgp"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/server"
)

func TestNew(t *testing.T) {
	full := func() server.Options {
		return server.Options{Catalogue: newFakeCatalogue(), Images: fakeImages{}, Runner: &fakeRunner{}}
	}
	tests := []struct {
		name    string
		edit    func(*server.Options)
		wantErr string
	}{
		{"complete", func(*server.Options) {}, ""},
		{"no catalogue", func(o *server.Options) { o.Catalogue = nil }, "creating server: no Catalogue given"},
		{"no images", func(o *server.Options) { o.Images = nil }, "creating server: no Images given"},
		{"no runner", func(o *server.Options) { o.Runner = nil }, "creating server: no Runner given"},
		{"negative timeout", func(o *server.Options) { o.RequestReadTimeout = -time.Second }, "creating server: negative RequestReadTimeout -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full()
			tt.edit(&o)
			s, err := server.New(o)
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Errorf("New() = %v, %v", s, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("New() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + "/api/v0/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/msgpack" {
		t.Errorf("Content-Type = %q", ct)
	}
	var md protocol.Metadata
	if rest, err := md.UnmarshalMsg(body); err != nil || len(rest) != 0 {
		t.Fatalf("decoding metadata: %v (%d bytes left)", err, len(rest))
	}
	// Only the runnable languages: not those without an image, without a
	// script, or whose image the store fails to read. The version is the
	// one the image recorded, where it has one.
	want := protocol.Metadata{
		langPython: {Name: "Name of python", Image: "python-img", Version: "3.11.2", URL: "https://example.com/python", SEClass: "lang-py"},
		langBash:   {Name: "Name of bash", Image: "bare-img", Version: "1", URL: "https://example.com/bash", SBCS: true},
	}
	if !reflect.DeepEqual(md, want) {
		t.Errorf("metadata = %+v, want %+v", md, want)
	}
	// se_class is left out when empty.
	raw, _, err := msgp.ReadMapStrIntfBytes(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bash := raw[langBash].(map[string]any); len(bash) != 5 {
		t.Errorf("bash has keys %v, want 5 without se_class", bash)
	}
	if py := raw[langPython].(map[string]any); py["se_class"] != "lang-py" || py["sbcs"] != false {
		t.Errorf("python = %v", py)
	}
}

func TestMetadataAgreesWithExecute(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + "/api/v0/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var md protocol.Metadata
	if _, err := md.UnmarshalMsg(body); err != nil {
		t.Fatal(err)
	}
	for _, lang := range newFakeCatalogue().All() {
		_, listed := md[lang.ID]
		out := exchange(t, ts.dial(t, executePath), websocket.MessageBinary, validRequest(lang.ID).Bytes())
		ran := out.code == websocket.StatusNormalClosure
		if listed != ran {
			t.Errorf("%s: listed in metadata %v, but executing it closed with %d %q", lang.ID, listed, out.code, out.reason)
		}
	}
}

func TestRoutes(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/api/v0/metadata", http.StatusMethodNotAllowed},
		{http.MethodHead, "/api/v0/metadata", http.StatusOK},
		{http.MethodGet, "/api/v0/nope", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, ts.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}
