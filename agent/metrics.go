package agent

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/ops"
	"github.com/authfsm/authfsm/states"
)

// requestDone counts a refresh request (hooks.Hooks.RequestDone).
func (n *counters) requestDone(d hooks.RequestDone) {
	if int(d.Class) < len(n.refresh) {
		n.refresh[d.Class].Add(1)
	}
	buckets := ops.DefaultDurationBuckets
	secs := d.Duration.Seconds()
	i, _ := slices.BinarySearch(buckets, secs) // the first bucket whose bound is >= secs
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.durations == nil {
		n.durations = make([]uint64, len(buckets)+1)
	}
	n.durations[i]++
	n.durationSum += secs
}

// storeError counts a failure of the store (hooks.Hooks.StoreError).
func (n *counters) storeError(e hooks.StoreError) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.storeErrors == nil {
		n.storeErrors = map[string]uint64{}
	}
	n.storeErrors[e.Op]++
}

// serveMetrics writes the profiles' states and counters in the Prometheus
// text format (version 0.0.4), which any scraper reads; it needs no
// client library.
func (a *Agent) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeMetrics(w, a.profiles)
}

// sample is one series of a profile: its labels after profile's, its value.
type sample struct {
	labels string
	value  float64
}

// The agent's own metrics, beside the sessions' (ops.Metric*).
var (
	metricTokenValid = ops.MetricDesc{Name: "agent_token_valid", Type: "gauge",
		Help: "Whether the profile's access token may be served now."}
	metricRefreshAttempt = ops.MetricDesc{Name: "agent_refresh_attempt", Type: "gauge",
		Help: "The attempt number of the current or last refresh cycle."}
	metricStoreError = ops.MetricDesc{Name: "agent_store_error", Type: "gauge",
		Help: "Whether the last save of the token pair failed."}
	metricTokenRequests = ops.MetricDesc{Name: "agent_token_requests_total", Type: "counter",
		Help: "GET /v1/token requests, by result.", Labels: []string{"result"}}
	metricProxyRequests = ops.MetricDesc{Name: "agent_proxy_requests_total", Type: "counter",
		Help: "Requests through the profile's proxy, by result.", Labels: []string{"result"}}
	metricHandovers = ops.MetricDesc{Name: "agent_token_handovers_total", Type: "counter",
		Help: "GET /v1/token requests that waited for the token's replacement, asked within the handover before the session replaces it or while it does."}
	metricRejections = ops.MetricDesc{Name: "agent_token_rejections_total", Type: "counter",
		Help: "Tokens clients reported refused (POST /v1/token/reject), by whether it was the current token (a refresh followed) or a stale one.", Labels: []string{"result"}}
)

// writeMetrics writes, for every profile, the metrics contrib/prometheus
// exports for a session (ops.Metric*: the same names, types, help
// texts and labels, with a profile label first), then the agent's own
// (authfsm_agent_*).
func writeMetrics(w io.Writer, profiles []*profile) {
	metric := func(d ops.MetricDesc, each func(p *profile) []sample) {
		name := d.FullName("")
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, d.Help, name, d.Type)
		for _, p := range profiles {
			for _, s := range each(p) {
				fmt.Fprintf(w, "%s{profile=%q%s} %s\n", name, p.cfg.Name, s.labels, strconv.FormatFloat(s.value, 'g', -1, 64))
			}
		}
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	label := func(k, v string) string { return "," + k + "=" + strconv.Quote(v) }
	statuses := make(map[*profile]session.Status, len(profiles))
	for _, p := range profiles {
		statuses[p] = p.s.Status()
	}

	metric(ops.MetricSessions, func(p *profile) []sample {
		var out []sample
		for _, st := range states.States() {
			out = append(out, sample{label("state", st.String()), b(statuses[p].State == st)})
		}
		return out
	})
	metric(ops.MetricRefreshAttempts, func(p *profile) []sample {
		var out []sample
		for c := range p.n.refresh {
			class := policy.Class(c)
			out = append(out, sample{label("outcome", ops.RefreshOutcome(class)) + label("class", class.String()), float64(p.n.refresh[c].Load())})
		}
		return out
	})
	writeDurations(w, profiles)
	metric(ops.MetricTokenExpiry, func(p *profile) []sample {
		// As contrib/prometheus: absent while unknown or revoked.
		if st := statuses[p]; !st.Expiry.IsZero() && st.State != states.Revoked {
			return []sample{{"", float64(st.Expiry.UnixNano()) / 1e9}}
		}
		return nil
	})
	metric(ops.MetricStoreErrors, func(p *profile) []sample {
		p.n.mu.Lock()
		counts := maps.Clone(p.n.storeErrors)
		p.n.mu.Unlock()
		ops := slices.Clone(ops.StoreOps)
		for _, op := range slices.Sorted(maps.Keys(counts)) {
			if !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
		var out []sample
		for _, op := range ops {
			out = append(out, sample{label("op", op), float64(counts[op])})
		}
		return out
	})
	metric(ops.MetricThrottledAttempts, func(p *profile) []sample {
		return []sample{{"", float64(p.n.throttled.Load())}}
	})

	metric(metricTokenValid, func(p *profile) []sample {
		return []sample{{"", b(statuses[p].TokenValid)}}
	})
	metric(metricRefreshAttempt, func(p *profile) []sample {
		return []sample{{"", float64(statuses[p].Attempt)}}
	})
	metric(metricStoreError, func(p *profile) []sample {
		return []sample{{"", b(statuses[p].StoreError != nil)}}
	})
	results := func(kv ...any) []sample {
		var out []sample
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, sample{label("result", kv[i].(string)), float64(kv[i+1].(int64))})
		}
		return out
	}
	metric(metricTokenRequests, func(p *profile) []sample {
		return results("served", p.n.tokenServed.Load(), "unavailable", p.n.tokenUnavailable.Load(), "refused", p.n.tokenRefused.Load())
	})
	metric(metricProxyRequests, func(p *profile) []sample {
		return results("forwarded", p.n.proxyForwarded.Load(), "unavailable", p.n.proxyUnavailable.Load(),
			"upstream_error", p.n.proxyUpstreamFail.Load(), "refused", p.n.proxyRefused.Load())
	})
	metric(metricHandovers, func(p *profile) []sample {
		return []sample{{"", float64(p.n.handovers.Load())}}
	})
	metric(metricRejections, func(p *profile) []sample {
		return results("current", p.n.rejected.Load(), "stale", p.n.rejectedStale.Load())
	})
}

// writeDurations writes ops.MetricRefreshDuration, a histogram over
// ops.DefaultDurationBuckets, as contrib/prometheus does.
func writeDurations(w io.Writer, profiles []*profile) {
	d := ops.MetricRefreshDuration
	name := d.FullName("")
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, d.Help, name, d.Type)
	buckets := ops.DefaultDurationBuckets
	for _, p := range profiles {
		p.n.mu.Lock()
		counts, sum := slices.Clone(p.n.durations), p.n.durationSum
		p.n.mu.Unlock()
		if counts == nil {
			counts = make([]uint64, len(buckets)+1)
		}
		var cum uint64
		for i, c := range counts {
			cum += c
			le := "+Inf"
			if i < len(buckets) {
				le = strconv.FormatFloat(buckets[i], 'g', -1, 64)
			}
			fmt.Fprintf(w, "%s_bucket{profile=%q,le=%q} %d\n", name, p.cfg.Name, le, cum)
		}
		fmt.Fprintf(w, "%s_sum{profile=%q} %s\n", name, p.cfg.Name, strconv.FormatFloat(sum, 'g', -1, 64))
		fmt.Fprintf(w, "%s_count{profile=%q} %d\n", name, p.cfg.Name, cum)
	}
}
