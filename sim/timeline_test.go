package sim

import (
	"testing"
	"time"
)

// TestTimelineBounded: a 6-hour run of one session calling every
// millisecond (21.6 million calls, 18 million failed once its revoked
// family's token expires) draws a picture of a bounded number of elements,
// at most a few per bin across the plot, where it drew one per failed call
// (1.58 GB); so does a run whose refreshes churn (a refused endpoint
// retried every few milliseconds, a token that dies every 10 ms).
func TestTimelineBounded(t *testing.T) {
	failing, churning := "6h", "30m"
	if raceEnabled {
		failing, churning = "90m", "10m" // the same bounds, a fraction of the events
	}
	for _, src := range []string{
		`{name: failing, duration: ` + failing + `, token: {ttl: 1h}, server: {faults: [{at: 1m, kind: revoke}]},
			workload: [{kind: requests, every: 1ms}]}`,
		`{name: churning, duration: ` + churning + `, token: {ttl: 10ms}, session: {policy: {kind: constant, initial: 5ms}},
			server: {latency: 1ms, faults: [{from: 0s, to: ` + churning + `, kind: refused}]},
			workload: [{kind: requests, every: 1ms}]}`,
	} {
		sc := mustParse(t, src)
		res := Run(sc, Options{Timeline: true})
		tl := res.Timeline
		if !tl.coarse {
			t.Fatalf("%s: %d calls, %d failed, %d attempts: the picture kept every element", sc.Name, res.Stats.Requests, res.Stats.FailedRequests, res.Stats.RefreshRequests)
		}
		bound := 4 * timelineFine
		if n := len(tl.spans) + len(tl.usable) + len(tl.attempts) + len(tl.failedCalls); n > bound {
			t.Errorf("%s: %d elements, want at most %d", sc.Name, n, bound)
		}
		svg := TimelineSVG(tl)
		if len(svg) > 3<<20 {
			t.Errorf("%s: SVG of %d bytes", sc.Name, len(svg))
		}
		t.Logf("%s over %v: %d calls, %d failed, %d refresh requests; SVG %d bytes", sc.Name, sc.Duration, res.Stats.Requests,
			res.Stats.FailedRequests, res.Stats.RefreshRequests, len(svg))
	}
}

// TestTimelineCoarseKeepsWhatHappened: merging keeps every state's time
// covered and every failed call counted.
func TestTimelineCoarseKeepsWhatHappened(t *testing.T) {
	sc := mustParse(t, `{name: c, duration: 2h, token: {ttl: 1h}, server: {faults: [{at: 10m, kind: revoke}]}, workload: [{kind: requests, every: 100ms}]}`)
	res := Run(sc, Options{Timeline: true})
	tl := res.Timeline
	var failed int64
	for _, f := range tl.failedCalls {
		failed += f.N
	}
	if !tl.coarse || failed != res.Stats.FailedRequests {
		t.Fatalf("coarse %v, %d failed calls drawn of %d", tl.coarse, failed, res.Stats.FailedRequests)
	}
	var revoked time.Duration
	for _, sp := range tl.spans {
		if sp.State.String() == "revoked" {
			revoked += sp.To - sp.From
		}
	}
	if revoked < time.Hour {
		t.Errorf("revoked drawn for %v of 1h", revoked)
	}
}
