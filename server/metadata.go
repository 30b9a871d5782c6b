package server

import (
	"net/http"

	"github.com/atod-project/atod/protocol"
)

// metadataContentType is the media type of the metadata body. The contract
// names none and clients decode the body whatever it says; this is the
// spelling in common use today (application/x-msgpack is the older one).
const metadataContentType = "application/msgpack"

// metadata serves GET /api/v0/metadata: every runnable language, and no
// other, as msgpack. It is computed per request, so images installed or
// removed while the server runs show at once.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	md := s.runnableMetadata()
	body, err := md.MarshalMsg(nil)
	if err != nil {
		s.log.Error("encoding metadata", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", metadataContentType)
	if _, err := w.Write(body); err != nil {
		s.log.Debug("writing metadata", "remote", r.RemoteAddr, "err", err)
	}
}

// metadataV1 serves GET /api/v1/metadata: the v0 metadata, as msgpack, or as
// JSON when the client's Accept prefers it.
func (s *Server) metadataV1(w http.ResponseWriter, r *http.Request) {
	md := s.runnableMetadata()
	writeHTTP(w, s.log, prefersMsgpack(r.Header.Get("Accept"), true), http.StatusOK, md)
}

// runnableMetadata describes every runnable language. Its version is the
// one its image recorded when it was built, where the image has one: what
// runs, not the catalogue's constraint.
func (s *Server) runnableMetadata() protocol.Metadata {
	langs := s.catalogue.All()
	md := make(protocol.Metadata, len(langs))
	for _, l := range langs {
		t, ok := s.runnable(l.ID)
		if !ok {
			continue
		}
		version := l.Version
		if v := t.image.Versions[l.ID]; v != "" {
			version = v
		}
		md[l.ID] = protocol.LanguageInfo{
			Name:    l.Name,
			Image:   l.Image,
			Version: version,
			URL:     l.URL,
			SBCS:    l.SBCS,
			SEClass: l.SEClass,
		}
	}
	return md
}
