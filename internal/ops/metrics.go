package ops

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Metrics counts one process's work. The zero value is not usable; use
// NewMetrics. All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	inFlight        *prometheus.GaugeVec
	tasks           *prometheus.CounterVec
	failures        *prometheus.CounterVec
	taskSeconds     *prometheus.HistogramVec
	mediaSeconds    prometheus.Counter
	renderSpeed     prometheus.Gauge
	fetchedBytes    prometheus.Counter
	finalizeSeconds prometheus.Histogram

	mu    sync.Mutex
	snap  Stats
	start time.Time
}

// Stats is the snapshot a role's micro service and presence entry report.
type Stats = proto.WorkerStats

// NewMetrics makes the metrics of a process whose role is role
// (proto.RoleRenderer, …): a registry with the Go and process collectors and
// mtsfarm_* metrics labelled by task kind (fetch, render, finalize).
func NewMetrics(role string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), start: time.Now()}
	constLabels := prometheus.Labels{"role": role}
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mtsfarm_tasks_in_flight",
		Help: "Tasks being worked on now by this process (fetch: chunks, render: units).", ConstLabels: constLabels}, []string{"kind"})
	m.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtsfarm_tasks_total",
		Help: "Tasks this process finished, by kind and outcome.", ConstLabels: constLabels}, []string{"kind", "outcome"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtsfarm_failures_total",
		Help: "Task failures by kind and reason.", ConstLabels: constLabels}, []string{"kind", "reason"})
	m.taskSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mtsfarm_task_seconds",
		Help: "How long tasks took, by kind.", ConstLabels: constLabels,
		Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"kind"})
	m.mediaSeconds = prometheus.NewCounter(prometheus.CounterOpts{Name: "mtsfarm_render_media_seconds_total",
		Help: "Seconds of webinar rendered by this process.", ConstLabels: constLabels})
	m.renderSpeed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mtsfarm_render_speed",
		Help: "Media seconds per second of the last unit rendered.", ConstLabels: constLabels})
	m.fetchedBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "mtsfarm_fetch_bytes_total",
		Help: "Bytes of media fetched from MTS Link by this process.", ConstLabels: constLabels})
	m.finalizeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mtsfarm_finalize_seconds",
		Help: "How long finalizing a job took (join, mix, mux, check).", ConstLabels: constLabels,
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200}})
	m.reg.MustRegister(m.inFlight, m.tasks, m.failures, m.taskSeconds, m.mediaSeconds, m.renderSpeed,
		m.fetchedBytes, m.finalizeSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are (for Handler, and for a role that adds
// its own collectors, such as QueueDepth).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// kindOf is a work subject's task kind: "mtsfarm.render.<job>…" → "render".
func kindOf(subject string) string {
	parts := strings.SplitN(subject, ".", 3)
	if len(parts) < 2 || parts[0] != "mtsfarm" {
		return "other"
	}
	return parts[1]
}

// TaskStarted implements bus.Observer.
func (m *Metrics) TaskStarted(subject string) {
	m.inFlight.WithLabelValues(kindOf(subject)).Inc()
	m.mu.Lock()
	m.snap.InFlight++
	m.mu.Unlock()
}

// TaskFinished implements bus.Observer.
func (m *Metrics) TaskFinished(subject string, outcome bus.Outcome, took time.Duration) {
	kind := kindOf(subject)
	m.inFlight.WithLabelValues(kind).Dec()
	m.tasks.WithLabelValues(kind, string(outcome)).Inc()
	m.taskSeconds.WithLabelValues(kind).Observe(took.Seconds())
	failed := outcome == bus.OutcomeFailed || outcome == bus.OutcomeRetry || outcome == bus.OutcomePanic || outcome == bus.OutcomeHung
	if failed {
		m.failures.WithLabelValues(kind, string(outcome)).Inc()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.InFlight--
	switch {
	case outcome == bus.OutcomeDone:
		m.snap.Done++
	case failed:
		m.snap.Failed++
		m.countFailure(string(outcome))
	}
}

func (m *Metrics) countFailure(reason string) {
	if m.snap.Failures == nil {
		m.snap.Failures = map[string]int{}
	}
	m.snap.Failures[reason]++
}

// Failure records why a task of kind failed, in the role's words
// ("stalled", "store", "nvenc_oom"), and the message an operator reads
// (LastFailure; already free of secrets).
func (m *Metrics) Failure(kind, reason, message string) {
	m.failures.WithLabelValues(kind, reason).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.countFailure(reason)
	m.snap.LastFailure = proto.RedactURL(message)
}

// Rendered records a unit of media seconds rendered in took.
func (m *Metrics) Rendered(media float64, took time.Duration) {
	m.mediaSeconds.Add(media)
	speed := 0.0
	if took > 0 {
		speed = media / took.Seconds()
	}
	m.renderSpeed.Set(speed)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap.MediaSeconds += media
	m.snap.Speed = speed
}

// Fetched records n bytes fetched.
func (m *Metrics) Fetched(n int64) {
	if n <= 0 {
		return
	}
	m.fetchedBytes.Add(float64(n))
	m.mu.Lock()
	m.snap.FetchedBytes += n
	m.mu.Unlock()
}

// Finalized records one job's finalize time.
func (m *Metrics) Finalized(took time.Duration) { m.finalizeSeconds.Observe(took.Seconds()) }

// Snapshot returns the current stats.
func (m *Metrics) Snapshot() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.snap
	if s.Failures != nil {
		s.Failures = make(map[string]int, len(m.snap.Failures))
		for k, v := range m.snap.Failures {
			s.Failures[k] = v
		}
	}
	s.Uptime = time.Since(m.start).Seconds()
	return s
}

// Presence is the snapshot as a presence entry holds it.
func (m *Metrics) Presence() *proto.WorkerStats {
	s := m.Snapshot()
	return &s
}

var _ bus.Observer = (*Metrics)(nil)
