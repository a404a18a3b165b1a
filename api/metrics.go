package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rapport/engine"
)

// Metrics are the server's Prometheus metrics, in a registry of its own.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.CounterVec
	jobRuns  *prometheus.CounterVec
	jobTime  *prometheus.HistogramVec
}

// CacheStats reports serving's identity cache.
type CacheStats interface {
	CacheCounts() (hits, misses uint64)
}

// NewMetrics registers Rapport's metrics, Go's runtime and process ones,
// the serving model version (from version) and, if cache is not nil, the
// identity cache's hits and misses.
func NewMetrics(version func() string, cache CacheStats) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_http_requests_total",
		Help: "HTTP requests by route, method and status."}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rapport_http_request_duration_seconds",
		Help:    "HTTP request latency by route, method and status class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route", "method", "class"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_events_total",
		Help: "Events posted, by outcome: accepted, duplicate, or dropped_no_consent (social signals without consent)."}, []string{"outcome"})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_job_runs_total",
		Help: "Job runs by job and status."}, []string{"job", "status"})
	m.jobTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rapport_job_duration_seconds",
		Help: "Job run durations.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"job"})
	m.registry.MustRegister(m.requests, m.latency, m.events, m.jobRuns, m.jobTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&versionCollector{version: version, desc: prometheus.NewDesc("rapport_model_version_info", "The model version serving (value 1).", []string{"version"}, nil)})
	if cache != nil {
		m.registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rapport_cache_hits_total", Help: "Requests whose serving state was in memory."},
				func() float64 { h, _ := cache.CacheCounts(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rapport_cache_misses_total", Help: "Requests whose serving state was read from the store."},
				func() float64 { _, m := cache.CacheCounts(); return float64(m) }))
	}
	return m
}

// versionCollector reports the serving version as an info metric.
type versionCollector struct {
	version func() string
	desc    *prometheus.Desc
}

func (v *versionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }
func (v *versionCollector) Collect(ch chan<- prometheus.Metric) {
	if id := v.version(); id != "" {
		ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, 1, id)
	}
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// JobFinished counts a finished job run (jobs.Scheduler.Finished).
func (m *Metrics) JobFinished(run engine.JobRun) {
	m.jobRuns.WithLabelValues(run.Job, run.Status).Inc()
	m.jobTime.WithLabelValues(run.Job).Observe(run.EndedAt.Sub(run.StartedAt).Seconds())
}

// observe records one request; unmatched routes are counted as "unmatched"
// so that random paths cannot grow the label set.
func (m *Metrics) observe(c *gin.Context, start time.Time) {
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, c.Request.Method, strconv.Itoa(status/100)+"xx").Observe(time.Since(start).Seconds())
}

// ingested counts the outcome of an events batch.
func (m *Metrics) ingested(res engine.IngestResult) {
	m.events.WithLabelValues("accepted").Add(float64(res.Accepted))
	m.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	m.events.WithLabelValues("dropped_no_consent").Add(float64(res.Dropped))
}
