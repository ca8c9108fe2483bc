// Package ops is what operating sessions takes: a health check of one
// session (HealthHandler), a census of many, kept from their hooks (Census),
// and the one vocabulary of a session's metrics (MetricDesc and the Metric
// values), which contrib/prometheus registers and the agent writes by hand.
// It imports session; the session knows nothing of it.
package ops
