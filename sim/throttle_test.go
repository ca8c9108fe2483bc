package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// runCounting runs sc and returns its result and the token requests its
// sessions sent within [from, to): the run's loop stops at from and at to
// to read the count, and goes on.
func runCounting(sc *Scenario, from, to time.Duration) (*Result, int64) {
	r := newRun(sc, Options{})
	r.end = int64(from)
	r.loop()
	before := r.stats.RefreshRequests
	r.end = int64(to)
	r.loop()
	within := r.stats.RefreshRequests - before
	r.end = int64(sc.Duration)
	r.loop()
	return r.finish(), within
}

// TestThrottleClaims checks the claims of issue 11 on the scenario pair
// fleet-outage-throttled and fleet-outage-unthrottled, for several seeds:
// with the throttle, the token requests sent over the outage are at most a
// tenth of those of the same run without it, and every session recovers
// within the unthrottled run's worst recovery plus one probe interval.
func TestThrottleClaims(t *testing.T) {
	with, err := Load("../testdata/scenarios/fleet-outage-throttled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	without, err := Load("../testdata/scenarios/fleet-outage-unthrottled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if with.Session.Throttle.Kind != "adaptive" || without.Session.Throttle.Kind != "" {
		t.Fatal("the pair must differ by the throttle")
	}
	f := with.Server.Faults[0]
	probe := with.Session.Throttle.Probe
	seeds := []uint64{with.Seed, 1, 2} // 3, 4 and 5 hold too; each seed costs two runs of 2,000 sessions
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		with.Seed, without.Seed = seed, seed
		rw, reqW := runCounting(with, f.From, f.To)
		ro, reqO := runCounting(without, f.From, f.To)
		if seed == seeds[0] && !bytes.Equal(rw.JSON(), Run(with, Options{}).JSON()) {
			t.Fatal("a run stopped and resumed differs from the run")
		}
		worstW, neverW := worstRecovery(rw.Recoveries)
		worstO, neverO := worstRecovery(ro.Recoveries)
		t.Logf("seed %d: over the outage %d token requests with the throttle, %d without (%.1f%%); worst recovery %v with, %v without; throttled %d; requests in all %d with, %d without",
			seed, reqW, reqO, 100*float64(reqW)/float64(reqO), worstW, worstO, *rw.Stats.ThrottledRequests, rw.Stats.RefreshRequests, ro.Stats.RefreshRequests)
		if neverW || neverO {
			t.Fatalf("seed %d: some session never recovered", seed)
		}
		if 10*reqW > reqO {
			t.Errorf("seed %d: %d token requests over the outage with the throttle, more than a tenth of %d", seed, reqW, reqO)
		}
		if worstW > worstO+probe {
			t.Errorf("seed %d: worst recovery %v with the throttle, beyond %v without it plus the probe interval %v", seed, worstW, worstO, probe)
		}
	}
}

// withThrottle returns the library scenario name with the shared throttle
// of issue 11 (and the given edits).
func withThrottle(t *testing.T, name string, probe time.Duration) *Scenario {
	t.Helper()
	sc, err := Load("../testdata/scenarios/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Session.Throttle = policy.ThrottleSpec{Kind: policy.ThrottleAdaptive, K: 2, Window: 2 * time.Minute, Probe: probe}
	return sc
}

// TestThrottleHealthyServerChangesNothing: on a server that answers every
// request, the throttle keeps nothing back, even from sessions that
// refresh at the same instant, and its draws (its own stream of the seed)
// leave the sessions' jitter as it was: the run is the run without it.
func TestThrottleHealthyServerChangesNothing(t *testing.T) {
	sc := withThrottle(t, "fleet-outage-jitter", 30*time.Second)
	sc.Server.Faults, sc.Fleet.ServerCapacity = nil, 0
	res := Run(sc, Options{Trace: true})
	if res.Stats.ThrottledRequests == nil || *res.Stats.ThrottledRequests != 0 {
		t.Fatalf("throttled_requests = %v, want 0", res.Stats.ThrottledRequests)
	}
	if !bytes.Contains(res.JSON(), []byte(`"throttled_requests":0,`)) {
		t.Errorf("a run with a throttle does not report throttled_requests: %s", res.JSON()[:300])
	}
	plain := *sc
	plain.Session.Throttle = policy.ThrottleSpec{}
	want := Run(&plain, Options{Trace: true})
	if bytes.Contains(want.JSON(), []byte("throttled_requests")) {
		t.Errorf("a run without a throttle reports throttled_requests")
	}
	res.Stats.ThrottledRequests = nil
	if !bytes.Equal(res.JSON(), want.JSON()) {
		t.Errorf("the throttle changed a healthy run")
	}
}

// TestThrottleKeepsRetryAfter: a throttled attempt is a transient failure
// (event fail, cause throttled locally, no request sent), and the server's
// Retry-After is still honoured: no request follows a 429 sooner.
func TestThrottleKeepsRetryAfter(t *testing.T) {
	sc := withThrottle(t, "429-retry-after", time.Second)
	sc.Session.Throttle.Window = 10 * time.Minute // longer than the Retry-After
	sc.Fleet.Sessions = 50
	sc.Expect = Expect{}
	res := Run(sc, Options{Trace: true})
	if len(res.Violations) > 0 {
		t.Fatalf("invariants broken: %v", res.Violations)
	}
	throttled := 0
	limited := map[int]time.Duration{} // session: when its Retry-After ends
	for _, e := range res.Trace {
		at, err := time.ParseDuration(atOf(e))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Cause == policy.ThrottledCause:
			throttled++
			if e.From != states.Refreshing || e.Event != states.Fail {
				t.Errorf("throttled attempt recorded as %v -%v-> %v", e.From, e.Event, e.To)
			}
		case e.From == states.Refreshing && strings.HasPrefix(e.Cause, "429"):
			limited[sessionOf(e)] = at + 2*time.Minute - sc.Server.Latency
		case e.From == states.Backoff && e.Event == states.Retry:
			if end, ok := limited[sessionOf(e)]; ok && at < end {
				t.Errorf("session %d retried at %v, before the Retry-After's end %v", sessionOf(e), at, end)
			}
		}
	}
	if throttled == 0 || *res.Stats.ThrottledRequests != int64(throttled) {
		t.Errorf("%d throttled attempts in the trace, %v in the stats; want the same, not 0", throttled, *res.Stats.ThrottledRequests)
	}
	if res.Stats.RefreshRequests+*res.Stats.ThrottledRequests+res.Stats.RefreshSuccesses == 0 {
		t.Error("nothing happened")
	}
}

// TestThrottleWithSharedStore: processes that coordinate through a store
// ask the throttle after marking their refresh, as session.refresh does; a
// throttled holder keeps the lease through its retry and clears its mark,
// and every invariant of the families holds through an outage.
func TestThrottleWithSharedStore(t *testing.T) {
	sc := withThrottle(t, "family-shared-store", 30*time.Second)
	sc.Server.Faults = []Fault{{Kind: FaultStatus, Status: 503, From: 54*time.Minute + 30*time.Second, To: 70 * time.Minute}}
	sc.Expect = Expect{}
	fuzzExpect(sc)
	res := Run(sc, Options{})
	if len(res.Violations) > 0 || !res.Passed {
		var b bytes.Buffer
		Report(&b, sc, res, reproduceLine(res, "shared"))
		t.Fatalf("fails:\n%s", b.String())
	}
	if *res.Stats.ThrottledRequests == 0 {
		t.Error("nothing throttled through a 15-minute outage")
	}
}

// TestThrottleAnswers: the outcomes the throttle records as accepts are
// those policy.Accepted names, outcome by outcome.
func TestThrottleAnswers(t *testing.T) {
	sc := withThrottle(t, "429-retry-after", 30*time.Second)
	sc.Server.Faults = append(sc.Server.Faults, Fault{Kind: FaultStatus, Status: 400, Error: "invalid_scope", From: time.Hour, To: 2 * time.Hour})
	as := answers(sc)
	for code, want := range map[uint32]bool{
		codeOK: true, codeInvalidGrant: true, codeTimeout: false, codeRefused: false, codeLost: false,
		codeHTML: false, codeMalformed: false, codeOverload: false,
		codeFault: false, codeFault + 1: true, // 429; 400 invalid_scope
	} {
		if as[code].accepted != want {
			t.Errorf("code %d (%s): accepted %t, want %t", code, as[code].verdict.Cause, as[code].accepted, want)
		}
	}
	if a := as[codeThrottled]; a.verdict.Class != policy.Transient || a.accepted {
		t.Errorf("a throttled attempt's verdict is %+v", a.verdict)
	}
}

// TestCompareWithThrottle: compare runs each policy with the scenario's
// throttle and without it, and its table gains a throttle column; without
// a throttle the table keeps its columns (docs/simulation checks it byte
// for byte).
func TestCompareWithThrottle(t *testing.T) {
	sc, err := Load("../testdata/scenarios/fleet-outage-throttled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Fleet.Sessions, sc.Fleet.ServerCapacity = 200, 40 // a tenth, to keep it quick
	c := Compare(sc)
	if !c.Throttled() || len(c.Rows) != 2*len(comparePolicies(sc.Session.Policy)) {
		t.Fatalf("%d rows, throttled %t; want two per policy", len(c.Rows), c.Throttled())
	}
	for i := 0; i < len(c.Rows); i += 2 {
		with, without := c.Rows[i], c.Rows[i+1]
		if with.Spec != without.Spec || with.Throttle != sc.Session.Throttle || without.Throttle != (policy.ThrottleSpec{}) {
			t.Fatalf("rows %d and %d are not one policy with and without the throttle: %+v %+v", i, i+1, with, without)
		}
		if with.Policy != "none" && 10*with.RefreshRequests > without.RefreshRequests {
			t.Errorf("%s: %d token requests with the throttle, %d without", with.Policy, with.RefreshRequests, without.RefreshRequests)
		}
	}
	var b bytes.Buffer
	c.Text(&b)
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "with the throttle (adaptive k=2 window 2m0s probe 30s) and without") ||
		!strings.HasPrefix(lines[1], "policy                                         throttle  failed calls") ||
		!strings.HasPrefix(lines[8], "exponential 1s×2 max 1m0s jitter=full          adaptive ") ||
		!strings.HasPrefix(lines[9], "exponential 1s×2 max 1m0s jitter=full          none     ") {
		t.Errorf("table:\n%s", b.String())
	}
	if svg := CompareSVG(c); !strings.Contains(svg, "without it") || strings.Count(svg, "<rect") < 4*len(c.Rows) {
		t.Errorf("the picture does not show both bars of each policy")
	}
	sc.Session.Throttle = policy.ThrottleSpec{}
	if c := Compare(sc); c.Throttled() || len(c.Rows) != len(comparePolicies(sc.Session.Policy)) {
		t.Errorf("without a throttle: %d rows, throttled %t", len(c.Rows), c.Throttled())
	}
}
