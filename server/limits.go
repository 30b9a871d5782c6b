package server

import (
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/atod-project/atod/protocol"
	"github.com/atod-project/atod/sandbox/job"
)

// The least a request's limits may ask: below them a run's sandbox cannot
// start its runner (the daemon's own configuration has the same minimums).
const (
	minMemoryMiB = 8
	minPids      = 8
	minCPUs      = 0.01
	minCPUTime   = 0.001 // seconds: less would round to no bound at all
)

// maxTimeout is the longest timeout a request may have, in seconds.
const maxTimeout = 60

// maxLimits are the most a request's limits may ask (GET /api/v1/limits):
// the operator's limits of each run, the output cap of the v1 APIs, and the
// CPU time a run could use in the longest timeout at its CPU quota.
func (s *Server) maxLimits() protocol.Limits {
	l := *s.limits.Load()
	return protocol.Limits{
		MemoryMiB: l.MemoryBytes >> 20,
		Pids:      l.Pids,
		CPUs:      l.CPUs,
		CPUTime:   maxTimeout * l.CPUs,
		Output:    v1OutputBytes,
		TmpfsMiB:  l.TmpfsBytes >> 20,
		RootMiB:   l.RootBytes >> 20,
	}
}

// checkExtensions refuses what a request's extensions ask that this server
// cannot give (checkLimits), and files that its working directory cannot
// hold.
func (s *Server) checkExtensions(req protocol.Request) error {
	if err := s.checkLimits(req.Limits); err != nil {
		return err
	}
	if len(req.Files) == 0 {
		return nil
	}
	room := applyLimits(*s.limits.Load(), req.Limits).TmpfsBytes
	// A tmpfs gives a file whole pages (a page here for each directory
	// too, to be safe), and has a bound on its files and directories.
	var need int64
	dirs := map[string]bool{}
	for _, f := range req.Files {
		need += (int64(len(f.Data)) + pageSize - 1) / pageSize * pageSize
		for d := path.Dir(f.Path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	need += int64(len(dirs)) * pageSize
	if n := len(req.Files) + len(dirs); n > contextInodes {
		return &protocol.RequestError{Reason: fmt.Sprintf("files: they need %d files and directories; the working directory holds %d", n, contextInodes)}
	}
	if need > room {
		return &protocol.RequestError{Reason: fmt.Sprintf("files: they take %d bytes of the working directory, which holds %d (limits.tmpfs_mib)", need, room)}
	}
	return nil
}

// pageSize is what a tmpfs gives a file at least; contextInodes what the
// run's working directory holds of files and directories, less a little
// for the runner's own (the sandbox's tmpfs has 16384).
const (
	pageSize      = 4096
	contextInodes = 16000
)

// checkLimits refuses a request's limits (nil: none) that ask for more
// than this server's maximum or less than a run needs, naming the limit
// and the bound.
func (s *Server) checkLimits(l *protocol.Limits) error {
	if l == nil {
		return nil
	}
	most := s.maxLimits()
	for _, c := range []struct {
		name          string
		v, least, max float64
	}{
		{"memory_mib", float64(l.MemoryMiB), minMemoryMiB, float64(most.MemoryMiB)},
		{"pids", float64(l.Pids), minPids, float64(most.Pids)},
		{"cpus", l.CPUs, minCPUs, most.CPUs},
		{"cpu_time", l.CPUTime, minCPUTime, most.CPUTime},
		{"output", float64(l.Output), 0, float64(most.Output)},
		{"tmpfs_mib", float64(l.TmpfsMiB), 0, float64(most.TmpfsMiB)},
		{"root_mib", float64(l.RootMiB), 0, float64(most.RootMiB)},
	} {
		switch {
		case c.v == 0: // not asked for
		case c.v > c.max:
			return &protocol.RequestError{Reason: "limits." + c.name + ": " + number(c.v) + " is more than this server's maximum, " + number(c.max) + " (GET /api/v1/limits)"}
		case c.v < c.least:
			return &protocol.RequestError{Reason: "limits." + c.name + ": " + number(c.v) + " is less than a run needs, " + number(c.least)}
		}
	}
	return nil
}

func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// applyLimits gives the run's limits (the operator's, base) what the
// request asked (checked by checkLimits). The output caps are the API's:
// outputCap.
func applyLimits(base job.Limits, l *protocol.Limits) job.Limits {
	if l == nil {
		return base
	}
	if l.MemoryMiB > 0 {
		base.MemoryBytes = l.MemoryMiB << 20
	}
	if l.Pids > 0 {
		base.Pids = l.Pids
	}
	if l.CPUs > 0 {
		base.CPUs = l.CPUs
	}
	if l.CPUTime > 0 {
		base.CPUTime = time.Duration(l.CPUTime * float64(time.Second))
	}
	if l.TmpfsMiB > 0 {
		base.TmpfsBytes = l.TmpfsMiB << 20
	}
	if l.RootMiB > 0 {
		base.RootBytes = l.RootMiB << 20
	}
	return base
}

// outputCap is the cap of each output stream of a v1 or HTTP request:
// the API's, or less if its limits ask.
func outputCap(req protocol.Request) int64 {
	if req.Limits != nil && req.Limits.Output > 0 {
		return min(req.Limits.Output, v1OutputBytes)
	}
	return v1OutputBytes
}

// limitsReport gives d the extension keys of a run whose request set
// limits: how the limits ended it.
func limitsReport(d *protocol.Done, req protocol.Request, res job.Result) {
	if req.Limits == nil {
		return
	}
	oom, cpu := res.Stats.OOMKilled, res.CPUTimeExceeded
	d.OOMKilled, d.CPUTimeExceeded = &oom, &cpu
}

// limitsV1 serves GET /api/v1/limits: the most a request's limits may ask.
func (s *Server) limitsV1(w http.ResponseWriter, r *http.Request) {
	most := s.maxLimits()
	writeHTTP(w, s.log, prefersMsgpack(r.Header.Get("Accept"), false), http.StatusOK, &most)
}
