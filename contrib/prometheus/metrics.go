// Package authfsmprom exports the metrics of authfsm sessions to
// Prometheus, from the sessions' hooks (hooks.Hooks).
//
// It is a module of its own, github.com/authfsm/authfsm/contrib/prometheus,
// so that the core module does not depend on the Prometheus client.
//
// Create one Metrics, register it, and install its hooks in every session:
//
//	m := authfsmprom.New()
//	prometheus.MustRegister(m)
//	s, err := session.New(ctx, client, session.Token{}, session.WithID("api"),
//		session.WithHooks(m.Hooks()))
//
// The metrics (names with WithNamespace's prefix, if any):
//
//	authfsm_sessions{state}                       gauge: open sessions per state, every state present
//	authfsm_refresh_attempts_total{outcome,class} counter: refresh requests by outcome (success, failure) and policy class
//	authfsm_refresh_duration_seconds              histogram: how long refresh requests took
//	authfsm_token_expiry_timestamp_seconds        gauge: the earliest access-token expiry among open sessions
//	authfsm_store_errors_total{op}                counter: failures of the token store or coordinator, by operation
//	authfsm_throttled_attempts_total              counter: attempts the shared throttle kept from being sent
//
// The names, types, help texts and labels are ops.Metric*, the
// vocabulary the agent's /metrics (package agent) writes too, with a
// profile label added.
//
// No metric has a session id as a label: a fleet of sessions (see
// session.Manager) would make one series per end user. The hooks carry no
// secrets (fingerprints at most), and no metric uses even those.
package authfsmprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/ops"
	"github.com/authfsm/authfsm/states"
)

// DefaultDurationBuckets are the buckets of authfsm_refresh_duration_seconds
// unless WithDurationBuckets says otherwise: ops.DefaultDurationBuckets
// (a token request usually takes tens to hundreds of milliseconds, and
// states.DefaultRequestTimeout, 10 s, bounds it).
var DefaultDurationBuckets = append([]float64(nil), ops.DefaultDurationBuckets...)

// The values of the outcome label of authfsm_refresh_attempts_total.
const (
	// OutcomeSuccess labels an attempt that yielded a token (class "ok").
	OutcomeSuccess = ops.OutcomeSuccess
	// OutcomeFailure labels every other attempt.
	OutcomeFailure = ops.OutcomeFailure
)

// Option configures New.
type Option func(*config)

type config struct {
	namespace string
	labels    prometheus.Labels
	buckets   []float64
}

// WithNamespace prefixes every metric's name with namespace and an
// underscore: WithNamespace("myapp") gives myapp_authfsm_sessions.
func WithNamespace(namespace string) Option { return func(c *config) { c.namespace = namespace } }

// WithConstLabels adds labels with fixed values to every metric, such as
// the name of the authorization server when one process talks to several.
// They must not clash with the metrics' own labels (state, outcome, class,
// op).
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *config) { c.labels = labels }
}

// WithDurationBuckets sets the upper bounds of the buckets of
// authfsm_refresh_duration_seconds, in seconds (DefaultDurationBuckets
// when not given).
func WithDurationBuckets(buckets []float64) Option {
	return func(c *config) { c.buckets = append([]float64(nil), buckets...) }
}

// Metrics collects the metrics of the sessions whose hooks it made. It
// implements prometheus.Collector: register it once, with
// prometheus.MustRegister or a Registry's Register. It is safe for
// concurrent use by any number of sessions.
type Metrics struct {
	census *ops.Census

	sessions, expiry *prometheus.Desc
	stateNames       []string

	attempts    *prometheus.CounterVec
	duration    prometheus.Histogram
	storeErrors *prometheus.CounterVec
	throttled   prometheus.Counter
}

// New returns metrics for sessions that will carry its hooks (Hooks).
func New(opts ...Option) *Metrics {
	cfg := config{buckets: DefaultDurationBuckets}
	for _, o := range opts {
		o(&cfg)
	}
	// The names, help texts and labels are the session package's, which
	// the agent's /metrics writes too.
	named := func(d ops.MetricDesc) (string, string) { return d.FullName(cfg.namespace), d.Help }
	counter := func(d ops.MetricDesc) prometheus.CounterOpts {
		name, help := named(d)
		return prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cfg.labels}
	}
	desc := func(d ops.MetricDesc) *prometheus.Desc {
		name, help := named(d)
		return prometheus.NewDesc(name, help, d.Labels, cfg.labels)
	}
	durName, durHelp := named(ops.MetricRefreshDuration)
	m := &Metrics{
		census:      ops.NewCensus(),
		sessions:    desc(ops.MetricSessions),
		expiry:      desc(ops.MetricTokenExpiry),
		attempts:    prometheus.NewCounterVec(counter(ops.MetricRefreshAttempts), ops.MetricRefreshAttempts.Labels),
		duration:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: durName, Help: durHelp, ConstLabels: cfg.labels, Buckets: cfg.buckets}),
		storeErrors: prometheus.NewCounterVec(counter(ops.MetricStoreErrors), ops.MetricStoreErrors.Labels),
		throttled:   prometheus.NewCounter(counter(ops.MetricThrottledAttempts)),
	}
	for _, s := range states.States() {
		m.stateNames = append(m.stateNames, s.String())
	}
	// Every series a dashboard expects exists from the start, at zero.
	for _, c := range []policy.Class{policy.OK, policy.Transient, policy.RateLimited, policy.Permanent, policy.Suspect} {
		m.attempts.WithLabelValues(ops.RefreshOutcome(c), c.String())
	}
	for _, op := range ops.StoreOps {
		m.storeErrors.WithLabelValues(op)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.sessions
	ch <- m.expiry
	m.attempts.Describe(ch)
	m.duration.Describe(ch)
	m.storeErrors.Describe(ch)
	m.throttled.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	counts, earliest := m.census.Snapshot()
	for i, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.sessions, prometheus.GaugeValue, float64(n), m.stateNames[i])
	}
	if !earliest.IsZero() {
		ch <- prometheus.MustNewConstMetric(m.expiry, prometheus.GaugeValue, float64(earliest.UnixNano())/1e9)
	}
	m.attempts.Collect(ch)
	m.duration.Collect(ch)
	m.storeErrors.Collect(ch)
	m.throttled.Collect(ch)
}

// Hooks returns hooks for session.WithHooks that feed m. Call it once per
// session (in a session.Manager's factory, for instance). Sessions may
// also share one Hooks value when their ids (session.WithID) differ; the
// sessions gauge and the expiry tell sessions apart by id within one Hooks
// value, so sessions sharing both a Hooks value and an id count as one.
//
// Every open session that holds a token counts in
// authfsm_token_expiry_timestamp_seconds: its expiry is known from Opened
// and from every token it installs (a successful refresh, a pair adopted
// from the family another process refreshed, SetToken), so each process
// sharing one family reports the token it holds. A revoked session counts
// again from its next token.
func (m *Metrics) Hooks() hooks.Hooks {
	return hooks.Chain(m.census.Hooks(), hooks.Hooks{
		RequestDone: func(d hooks.RequestDone) {
			m.attempts.WithLabelValues(ops.RefreshOutcome(d.Class), d.Class.String()).Inc()
			m.duration.Observe(d.Duration.Seconds())
		},
		StoreError: func(e hooks.StoreError) { m.storeErrors.WithLabelValues(e.Op).Inc() },
		Throttled:  func(hooks.Throttled) { m.throttled.Inc() },
	})
}
