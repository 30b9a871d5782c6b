// Package metrics counts what atod's server does, for Prometheus: it is the
// server's Recorder, and reads its state at each scrape.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/sandbox/job"
	"github.com/atod-project/atod/server"
)

// Metrics are what the server counts for Prometheus (GET /metrics): a
// server.Recorder. Labels take few values: languages are the catalogue's
// (a request for another is refused before it is counted), reasons close
// codes and HTTP statuses.
type Metrics struct {
	registry *prometheus.Registry

	runs        *prometheus.CounterVec   // language, status
	timeouts    *prometheus.CounterVec   // language
	oomKills    *prometheus.CounterVec   // language
	cpuKills    *prometheus.CounterVec   // language
	runDuration *prometheus.HistogramVec // language
	queueWait   prometheus.Histogram
	refusals    *prometheus.CounterVec // api, reason
	output      *prometheus.CounterVec // stream
}

// New makes the server's metrics, the Go runtime's and the
// process's, and the build's (atod_build_info). storeBytes, if not nil,
// gives the image store's size at each scrape.
func New(storeBytes func() (int64, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_runs_total", Help: "Runs finished, by language and how they ended (exited, killed, core_dumped, unknown; error: the server failed to carry it out).",
		}, []string{"language", "status"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_run_timeouts_total", Help: "Runs killed at their timeout, by language.",
		}, []string{"language"}),
		oomKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_run_oom_kills_total", Help: "Runs in which the kernel killed a process for memory, by language.",
		}, []string{"language"}),
		cpuKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_run_cpu_time_kills_total", Help: "Runs killed for their CPU time (a request's limits.cpu_time), by language.",
		}, []string{"language"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "atod_run_duration_seconds", Help: "Wall-clock time of runs, from the job's handover to the runner's end, by language.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"language"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "atod_queue_wait_seconds", Help: "Time websocket requests waited for a run slot.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60},
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_requests_refused_total", Help: "Requests refused, by API (v0, v1, http) and reason (the websocket close code or HTTP status).",
		}, []string{"api", "reason"}),
		output: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atod_output_bytes_total", Help: "Bytes of output runs produced that were kept for their clients, by stream.",
		}, []string{"stream"}),
	}
	v := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "atod_build_info", Help: "The build: always 1.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "go": v.Go},
	})
	build.Set(1)
	reg.MustRegister(m.runs, m.timeouts, m.oomKills, m.cpuKills, m.runDuration, m.queueWait, m.refusals, m.output, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if storeBytes != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atod_image_store_bytes", Help: "What the installed images hold, as they recorded it when installed.",
		}, func() float64 {
			n, err := storeBytes()
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Watch adds the gauges that read the server's state at each scrape.
func (m *Metrics) Watch(s *server.Server) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atod_queue_depth", Help: "Websocket requests waiting for a run slot."},
			func() float64 { return float64(s.Waiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atod_slots_busy", Help: "Run slots taken."},
			func() float64 { return float64(s.BusySlots()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atod_draining", Help: "1 while the server drains (SIGTERM)."},
			func() float64 {
				if s.Draining() {
					return 1
				}
				return 0
			}),
	)
}

// Ran counts a run of language that ended with res, or that the server
// failed to carry out (err).
func (m *Metrics) Ran(language string, res job.Result, err error) {
	if err != nil {
		m.runs.WithLabelValues(language, "error").Inc()
		return
	}
	m.runs.WithLabelValues(language, res.Status.Type.String()).Inc()
	m.runDuration.WithLabelValues(language).Observe(res.Stats.Real.Seconds())
	if res.TimedOut {
		m.timeouts.WithLabelValues(language).Inc()
	}
	if res.Stats.OOMKilled {
		m.oomKills.WithLabelValues(language).Inc()
	}
	if res.CPUTimeExceeded {
		m.cpuKills.WithLabelValues(language).Inc()
	}
}

// Waited records how long a request waited for a run slot.
func (m *Metrics) Waited(d time.Duration) { m.queueWait.Observe(d.Seconds()) }

// Refused counts a refused request of api (v0, v1, http); reason is its
// close code or HTTP status.
func (m *Metrics) Refused(api string, reason int) {
	m.refusals.WithLabelValues(api, strconv.Itoa(reason)).Inc()
}

// Output counts n bytes of a run's stream kept for its client.
func (m *Metrics) Output(stream string, n int) { m.output.WithLabelValues(stream).Add(float64(n)) }
