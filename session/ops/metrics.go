package ops

import "github.com/authfsm/authfsm/policy"

// MetricDesc describes a metric of authfsm sessions as the Prometheus text
// format names it. The Metric values below are the one vocabulary of a
// session's metrics: contrib/prometheus registers them, and the agent's
// /metrics (package agent, which cannot import a Prometheus client) writes
// them by hand with a profile label added, from the same names, types,
// help texts and labels.
type MetricDesc struct {
	// Name follows the "authfsm_" prefix: "sessions" is authfsm_sessions.
	Name string
	// Type is "gauge", "counter" or "histogram".
	Type string
	// Help is the metric's HELP text.
	Help string
	// Labels are the metric's own labels, in order.
	Labels []string
}

// FullName returns the metric's name, prefixed by namespace and an
// underscore when namespace is not empty: FullName("myapp") of
// MetricSessions is myapp_authfsm_sessions, as prometheus.BuildFQName
// builds it.
func (d MetricDesc) FullName(namespace string) string {
	if namespace == "" {
		return "authfsm_" + d.Name
	}
	return namespace + "_authfsm_" + d.Name
}

// The metrics of sessions.
var (
	// MetricSessions counts open sessions by state (every state present).
	MetricSessions = MetricDesc{Name: "sessions", Type: "gauge",
		Help: "Open authfsm sessions, by state.", Labels: []string{"state"}}
	// MetricRefreshAttempts counts refresh requests (hooks.Hooks.RequestDone).
	MetricRefreshAttempts = MetricDesc{Name: "refresh_attempts_total", Type: "counter",
		Help:   "Refresh requests sent, by outcome (success, failure) and policy class (ok, transient, rate_limited, permanent, suspect).",
		Labels: []string{"outcome", "class"}}
	// MetricRefreshDuration is the histogram of refresh requests'
	// durations, in seconds (DefaultDurationBuckets unless configured).
	MetricRefreshDuration = MetricDesc{Name: "refresh_duration_seconds", Type: "histogram",
		Help: "How long refresh requests took, a fallback grant included."}
	// MetricTokenExpiry is the earliest known access-token expiry.
	MetricTokenExpiry = MetricDesc{Name: "token_expiry_timestamp_seconds", Type: "gauge",
		Help: "The earliest access-token expiry among open sessions that hold a token and are not revoked (refreshed here, adopted from another process of the family, or set), in Unix seconds; absent when no open session holds one. It may be in the past: a session that could not refresh in time."}
	// MetricStoreErrors counts failures of the token store or the
	// coordinator (hooks.Hooks.StoreError), by hooks.StoreError.Op.
	MetricStoreErrors = MetricDesc{Name: "store_errors_total", Type: "counter",
		Help: "Failures of the token store or of the token family's coordinator, by operation.", Labels: []string{"op"}}
	// MetricThrottledAttempts counts attempts a shared throttle.Throttle held back
	// (hooks.Hooks.Throttled).
	MetricThrottledAttempts = MetricDesc{Name: "throttled_attempts_total", Type: "counter",
		Help: "Refresh attempts the shared throttle kept from being sent."}
)

// The values of MetricRefreshAttempts' outcome label.
const (
	// OutcomeSuccess labels an attempt that yielded a token (class "ok").
	OutcomeSuccess = "success"
	// OutcomeFailure labels every other attempt.
	OutcomeFailure = "failure"
)

// RefreshOutcome returns the outcome label of an attempt of class c.
func RefreshOutcome(c policy.Class) string {
	if c == policy.OK {
		return OutcomeSuccess
	}
	return OutcomeFailure
}

// StoreOps are the operations of StoreError whose MetricStoreErrors
// series exist from the start, at zero.
var StoreOps = []string{"save", "publish", "read", "acquire", "mark"}

// DefaultDurationBuckets are MetricRefreshDuration's buckets, in seconds,
// unless an adapter is told otherwise: a token request usually takes tens
// to hundreds of milliseconds, and states.DefaultRequestTimeout (10 s) bounds it.
var DefaultDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
