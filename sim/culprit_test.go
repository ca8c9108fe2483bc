package sim

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// TestFailingSession: the session blamed for each kind of failed
// expectation is the one the trace shows doing it, and the report shows
// its timeline when asked to (Options.Session).
func TestFailingSession(t *testing.T) {
	const fleet = `name: f
seed: 4
duration: 3h
token: {ttl: 1h}
fleet: {sessions: 20, start_spread: 2h}
server: {faults: [{at: 2h20m, kind: revoke}, {from: 2h30m, to: 2h31m, kind: status, status: 503}]}
workload: [{kind: requests, every: 10m}]
`
	first := func(trace []audit.Record, ok func(e audit.Record) bool) int {
		for _, e := range trace {
			if ok(e) {
				return sessionOf(e)
			}
		}
		return -1
	}
	for _, tc := range []struct {
		expect string
		want   func(res *Result) int
		why    string
	}{
		{"{never_states: [revoked]}", func(res *Result) int {
			return first(res.Trace, func(e audit.Record) bool { return e.To == states.Revoked })
		}, "the first to enter revoked"},
		{"{final_state: valid}", func(res *Result) int {
			last := map[int]states.State{}
			for _, e := range res.Trace {
				last[sessionOf(e)] = e.To
			}
			for i := range 20 {
				if st, ok := last[i]; ok && st != states.Valid {
					return i
				}
			}
			return -1
		}, "ended revoked, not valid"},
		{"{max_refresh_requests: 25}", nil, "its refresh request went over max_refresh_requests"},
		{"{max_failed_requests: 3}", nil, "its failed call went over max_failed_requests"},
		{"{max_family_revocations: 2}", func(res *Result) int {
			n := 0
			return first(res.Trace, func(e audit.Record) bool {
				if e.To == states.Revoked {
					n++
				}
				return n == 3
			})
		}, "its family's revocation went over max_family_revocations"},
	} {
		sc := mustParse(t, fleet+"expect: "+tc.expect+"\n")
		res := Run(sc, Options{Trace: true})
		if res.Passed || res.Failing < 0 || res.FailingWhy != tc.why {
			t.Errorf("%s: passed %v, failing session %d: %q; want %q", tc.expect, res.Passed, res.Failing, res.FailingWhy, tc.why)
			continue
		}
		if tc.want != nil {
			if want := tc.want(res); res.Failing != want {
				t.Errorf("%s: session %d blamed, the trace shows %d", tc.expect, res.Failing, want)
			}
		}
		again := Run(sc, Options{Session: res.Failing})
		var b strings.Builder
		Report(&b, sc, again, reproduceLine(again, "f.yaml"))
		title := "timeline of session " + strconv.Itoa(res.Failing) + " (" + tc.why + "):"
		if !strings.Contains(b.String(), title) || again.StoryLen == 0 || sessionOf(again.Story[0]) != res.Failing {
			t.Errorf("%s: report lacks %q:\n%s", tc.expect, title, b.String())
		}
	}
	// A recovery that never happens blames the session that was revoked.
	sc := mustParse(t, "name: r\nduration: 3h\ntoken: {ttl: 2h, rotate: true}\nsession: {refresh_ahead: 1h, policy: {kind: none}}\n"+
		"fleet: {sessions: 3}\nserver: {faults: [{from: 59m59s, to: 1h0m1s, kind: lost_response}]}\nexpect: {max_recovery: 1h}\n")
	if res := Run(sc, Options{}); res.Failing != 0 || !strings.HasPrefix(res.FailingWhy, "revoked before it recovered from the window ending 1h0m1s") {
		t.Errorf("max_recovery: session %d, %q", res.Failing, res.FailingWhy)
	}
	// A slow recovery blames the session that recovered last.
	sc = mustParse(t, "name: s\nduration: 2h\ntoken: {ttl: 1h}\nsession: {refresh_ahead: 10m}\nfleet: {sessions: 50, start_spread: 20m}\n"+
		"server: {faults: [{from: 40m, to: 1h, kind: status, status: 503}]}\nexpect: {max_recovery: 1s}\n")
	res := Run(sc, Options{})
	if !strings.HasPrefix(res.FailingWhy, "the last to recover from the window ending 1h0m0s, after ") || res.Failing < 0 {
		t.Errorf("slow recovery: session %d, %q", res.Failing, res.FailingWhy)
	}
	var b strings.Builder
	again := Run(sc, Options{Session: res.Failing})
	Report(&b, sc, again, reproduceLine(again, "s.yaml"))
	if !strings.Contains(b.String(), "recovery after the fault window ending 1h0m0s: "+res.Recoveries[0].After.Round(time.Millisecond).String()) {
		t.Errorf("report:\n%s", b.String())
	}
	if res := Run(mustParse(t, fleet), Options{}); res.Failing != -1 {
		t.Errorf("a passing run blames session %d", res.Failing)
	}
}
