package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/atod-project/atod/internal/version"
)

// healthBody is the JSON body of /healthz and /readyz.
type healthBody struct {
	Status    string        `json:"status"`              // "ok", "ready", or why not ready
	Languages int           `json:"languages,omitempty"` // /readyz: how many can run
	Version   *version.Info `json:"version,omitempty"`   // /healthz: the build
}

// healthz serves GET /healthz: the daemon is alive and answers (200), with
// its build.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	v := s.version
	writeHealth(w, http.StatusOK, healthBody{Status: "ok", Version: &v})
}

// readyz serves GET /readyz: 200 when the server takes runs (not draining,
// its image store readable, a language runnable), 503 with why not
// otherwise. A load balancer sends requests only to a ready server.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Draining() {
		writeHealth(w, http.StatusServiceUnavailable, healthBody{Status: errDraining.reason})
		return
	}
	n, err := s.runnableCount()
	switch {
	case n > 0:
		writeHealth(w, http.StatusOK, healthBody{Status: "ready", Languages: n})
	case err != nil:
		s.log.Warn("not ready", "err", err)
		writeHealth(w, http.StatusServiceUnavailable, healthBody{Status: "image store unreadable"})
	default:
		writeHealth(w, http.StatusServiceUnavailable, healthBody{Status: "no language can run"})
	}
}

// runnableCount counts the runnable languages; err is the image store's
// first failure, if it failed for some (not a language that is not
// installed).
func (s *Server) runnableCount() (n int, err error) {
	for _, l := range s.catalogue.All() {
		_, rerr := s.resolve(l.ID, false)
		switch {
		case rerr == nil:
			n++
		case err == nil && !errors.Is(rerr, errNotRunnable):
			err = rerr
		}
	}
	return n, err
}

func writeHealth(w http.ResponseWriter, status int, b healthBody) {
	body, _ := json.Marshal(b) // plain values: it cannot fail
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
