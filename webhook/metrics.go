package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Metrics are mesh-webhook's Prometheus metrics. A nil *Metrics records
// nothing, so tests and benchmarks can leave it out.
type Metrics struct {
	decisions *prometheus.CounterVec
	findings  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	liveReads *prometheus.CounterVec
	requests  prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_webhook_decisions_total",
			Help: "Admission decisions by operation, kind and result (allowed, denied, bypassed, cleanup, busy, too-large, malformed, error).",
		}, []string{"operation", "kind", "result"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_webhook_findings_total",
			Help: "Findings reported by category and severity.",
		}, []string{"category", "severity"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mesh_webhook_decision_duration_seconds",
			Help:    "Time to decide one admission request.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5},
		}, []string{"operation", "kind"}),
		requests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mesh_webhook_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, as the API server's webhook timeout counts it (the body's read and decoding, waiting for a slot and the review).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10},
		}),
		liveReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_webhook_live_reads_total",
			Help: "Reviews that read references live from the API server because the cache looked stale, by kind under review.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.findings, m.latency, m.liveReads, m.requests} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Label values come from requests anyone allowed to write Istio config
// (or to reach the webhook's port) can send: each made-up kind or
// operation would be a new series, held for ever (20,000 posts with
// made-up kinds made 40,000 series and 47 MiB). Only known values are
// labels; the rest are "other".

// knownLabel returns v when it is one of known, else "other".
func knownLabel(v string, known ...string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return "other"
}

func opLabel(op string) string {
	if op == "" {
		return ""
	}
	return knownLabel(op, "CREATE", "UPDATE", "DELETE", "CONNECT")
}

func kindLabel(kind string) string {
	if kind == "" {
		return ""
	}
	return knownLabel(kind, policies.KindVirtualService, policies.KindDestinationRule, policies.KindGateway, policies.KindServiceEntry)
}

func (m *Metrics) decision(op, kind, result string, d time.Duration) {
	if m == nil {
		return
	}
	op, kind = opLabel(op), kindLabel(kind)
	m.decisions.WithLabelValues(op, kind, result).Inc()
	if result != "malformed" {
		m.latency.WithLabelValues(op, kind).Observe(d.Seconds())
	}
}

func (m *Metrics) finding(f policies.Finding) {
	if m != nil {
		// Custom policies choose their own categories and severities.
		m.findings.WithLabelValues(knownLabel(f.Category, policies.Categories...), knownLabel(string(f.Severity), "error", "warning")).Inc()
	}
}

func (m *Metrics) liveRead(kind string) {
	if m != nil {
		m.liveReads.WithLabelValues(kindLabel(kind)).Inc()
	}
}

func (m *Metrics) request(d time.Duration) {
	if m != nil {
		m.requests.Observe(d.Seconds())
	}
}
