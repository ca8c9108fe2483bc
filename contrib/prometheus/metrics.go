// Package authfsmprom exports the metrics of authfsm sessions to
// Prometheus, from the sessions' hooks (session.Hooks).
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
// No metric has a session id as a label: a fleet of sessions (see
// session.Manager) would make one series per end user. The hooks carry no
// secrets (fingerprints at most), and no metric uses even those.
package authfsmprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/states"
)

// DefaultDurationBuckets are the buckets of authfsm_refresh_duration_seconds
// unless WithDurationBuckets says otherwise: a token request usually takes
// tens to hundreds of milliseconds, and session.DefaultRequestTimeout
// (10 s) bounds it.
var DefaultDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// The values of the outcome label of authfsm_refresh_attempts_total.
const (
	// OutcomeSuccess labels an attempt that yielded a token (class "ok").
	OutcomeSuccess = "success"
	// OutcomeFailure labels every other attempt.
	OutcomeFailure = "failure"
)

// knownStoreOps are the operations of session.StoreError, whose series
// exist from the start.
var knownStoreOps = []string{"save", "publish", "read", "acquire", "mark"}

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
	census *session.Census

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
	name := func(n string) string { return prometheus.BuildFQName(cfg.namespace, "authfsm", n) }
	m := &Metrics{
		census: session.NewCensus(),
		sessions: prometheus.NewDesc(name("sessions"),
			"Open authfsm sessions, by state.", []string{"state"}, cfg.labels),
		expiry: prometheus.NewDesc(name("token_expiry_timestamp_seconds"),
			"The earliest access-token expiry among open sessions that hold a token and are not revoked (refreshed here, adopted from another process of the family, or set), in Unix seconds; absent when no open session holds one. It may be in the past: a session that could not refresh in time.",
			nil, cfg.labels),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: name("refresh_attempts_total"), ConstLabels: cfg.labels,
			Help: "Refresh requests sent, by outcome (success, failure) and policy class (ok, transient, rate_limited, permanent, suspect).",
		}, []string{"outcome", "class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: name("refresh_duration_seconds"), ConstLabels: cfg.labels, Buckets: cfg.buckets,
			Help: "How long refresh requests took, a fallback grant included.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: name("store_errors_total"), ConstLabels: cfg.labels,
			Help: "Failures of the token store or of the token family's coordinator, by operation.",
		}, []string{"op"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: name("throttled_attempts_total"), ConstLabels: cfg.labels,
			Help: "Refresh attempts the shared throttle kept from being sent.",
		}),
	}
	for _, s := range states.States() {
		m.stateNames = append(m.stateNames, s.String())
	}
	// Every series a dashboard expects exists from the start, at zero.
	for _, c := range []policy.Class{policy.OK, policy.Transient, policy.RateLimited, policy.Permanent, policy.Suspect} {
		m.attempts.WithLabelValues(outcome(c), c.String())
	}
	for _, op := range knownStoreOps {
		m.storeErrors.WithLabelValues(op)
	}
	return m
}

func outcome(c policy.Class) string {
	if c == policy.OK {
		return OutcomeSuccess
	}
	return OutcomeFailure
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
func (m *Metrics) Hooks() session.Hooks {
	return session.ChainHooks(m.census.Hooks(), session.Hooks{
		RequestDone: func(d session.RequestDone) {
			m.attempts.WithLabelValues(outcome(d.Class), d.Class.String()).Inc()
			m.duration.Observe(d.Duration.Seconds())
		},
		StoreError: func(e session.StoreError) { m.storeErrors.WithLabelValues(e.Op).Inc() },
		Throttled:  func(session.Throttled) { m.throttled.Inc() },
	})
}
