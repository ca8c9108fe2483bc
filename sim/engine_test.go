package sim

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
	"math/rand/v2"
	"testing"
)

func mustParse(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := Parse(t.Name()+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestModel checks the server model and the client's behaviour on small
// scenarios whose outcome can be worked out by hand.
func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		check func(t *testing.T, res *Result)
	}{
		{
			// The client's clock runs 3 minutes behind the JWT's exp. With no
			// margin, the first call after the server's expiry gets 401; the
			// rejection triggers an immediate refresh, so one call per token
			// lifetime fails: at 1h and just after 2h.
			name: "skew without margin",
			src: `{name: s, duration: 2h30m, token: {ttl: 1h, omit_expires_in: true}, clock_skew: -3m, session: {refresh_ahead: 0s},
				workload: [{kind: requests, every: 30s}]}`,
			check: func(t *testing.T, res *Result) {
				if res.Stats.FailedRequests != 2 || res.FinalState != "valid" {
					t.Errorf("failed %d, final %s; want 2 failed calls, valid", res.Stats.FailedRequests, res.FinalState)
				}
			},
		},
		{
			// Sessions spread over 2h refresh at start+1h; the family is
			// revoked at 2h20m, so those that started after 1h20m are revoked
			// at their refresh and the others are valid.
			name: "mixed fleet",
			src: `{name: m, seed: 4, duration: 3h, token: {ttl: 1h}, fleet: {sessions: 20, start_spread: 2h},
				server: {faults: [{at: 2h20m, kind: revoke}]}, workload: [{kind: requests, every: 10m}]}`,
			check: func(t *testing.T, res *Result) {
				if res.FinalState != "mixed" || len(res.Stats.FinalStates) != 2 {
					t.Fatalf("final %s %v; want mixed valid and revoked", res.FinalState, res.Stats.FinalStates)
				}
				v, r := res.Stats.FinalStates[0], res.Stats.FinalStates[1]
				if v.State != states.Valid || r.State != states.Revoked || v.Sessions+r.Sessions != 20 {
					t.Errorf("final states %v, want valid and revoked summing to 20 sessions", res.Stats.FinalStates)
				}
				want := `"final_state":"mixed","stats":{`
				counts := fmt.Sprintf(`"final_states":{"valid":%d,"revoked":%d}}`, v.Sessions, r.Sessions)
				if j := string(res.JSON()); !strings.Contains(j, want) || !strings.Contains(j, counts) {
					t.Errorf("JSON %s lacks %s or %s", j, want, counts)
				}
			},
		},
		{
			// 100 sessions refresh at the same instant against 10 answers per
			// second, without jitter: ten succeed per wave, the rest get 503.
			name: "capacity",
			src: `{name: c, duration: 1h30m, token: {ttl: 1h}, fleet: {sessions: 100, server_capacity: 10},
				session: {policy: {jitter: none}}}`,
			check: func(t *testing.T, res *Result) {
				if res.Stats.RefreshSuccesses != 100 || res.Stats.RefreshRequests < 100+90+80 {
					t.Errorf("refresh %d requests, %d successes; want 100 successes after waves of 503",
						res.Stats.RefreshRequests, res.Stats.RefreshSuccesses)
				}
			},
		},
		{
			// The endpoint hangs from 1h; calls wait 5s for a token, then fail.
			name: "wait for refresh times out",
			src: `{name: w, duration: 1h3m, token: {ttl: 1h}, session: {wait_for_refresh: 5s, refresh_ahead: 0s},
				server: {faults: [{from: 59m, to: 1h3m, kind: hang}]}, workload: [{kind: requests, every: 1m}]}`,
			check: func(t *testing.T, res *Result) {
				if res.Stats.FailedRequests != 3 || res.Stats.Requests != 63 {
					t.Errorf("%d of %d calls failed, want 3 of 63", res.Stats.FailedRequests, res.Stats.Requests)
				}
			},
		},
		{
			// A 400 invalid_grant is the authorization server's refusal: revoked.
			name: "status 400 revokes",
			src:  `{name: r, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s}, server: {faults: [{from: 59m, to: 1h1m, kind: status, status: 400, error: invalid_grant}]}}`,
			check: func(t *testing.T, res *Result) {
				if res.FinalState != "revoked" || len(res.Violations) > 0 {
					t.Errorf("final %s, violations %v; want revoked without violations", res.FinalState, res.Violations)
				}
			},
		},
		{
			// A proxy's 404 page is not the authorization server's answer.
			name: "status 404 does not revoke",
			src:  `{name: p, duration: 2h, token: {ttl: 1h}, server: {faults: [{from: 59m, to: 1h1m, kind: status, status: 404}]}}`,
			check: func(t *testing.T, res *Result) {
				if res.FinalState != "valid" || res.Recoveries[0].Never {
					t.Errorf("final %s, recoveries %v; want valid", res.FinalState, res.Recoveries)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Run(mustParse(t, tc.src), Options{})
			if len(res.Violations) > 0 {
				t.Errorf("invariants broken: %v", res.Violations)
			}
			tc.check(t, res)
		})
	}
}

// TestQueueOrder pushes absolute events, then with each pop a few events a
// delay later (recurring delays, a random one, zero), as the engine does:
// pops come in (at, key) order, equal instants in insertion order, and the
// lanes give exactly the order of the bare heap.
func TestQueueOrder(t *testing.T) {
	var orders [2][]event
	for k, naive := range []bool{true, false} {
		var q queue
		q.naive = naive
		q.init(0)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 1000 {
			q.push(rng.Int64N(50), evStart, uint32(i), 0)
		}
		prev := event{at: -1, pushAt: math.MinInt64}
		for n := 0; ; n++ {
			e, ok := q.next(math.MaxInt64)
			if !ok {
				break
			}
			if !prev.key().less(e.key()) {
				t.Fatalf("naive %v: popped %+v after %+v", naive, e.key(), prev.key())
			}
			if e.at == prev.at && e.pushAt == prev.pushAt && e.ord < prev.ord {
				t.Fatalf("equal instants out of insertion order")
			}
			prev = e
			orders[k] = append(orders[k], e)
			if n > 50_000 {
				continue
			}
			for range rng.IntN(3) {
				d := []int64{0, 7, 30, 30, 1000, rng.Int64N(100)}[rng.IntN(6)]
				q.push(e.at+d, []evKind{evCall, evResult, evWake}[rng.IntN(3)], uint32(n), 0)
			}
		}
		if q.len() != 0 {
			t.Fatalf("%d events left", q.len())
		}
	}
	if len(orders[0]) < 50_000 || fmt.Sprint(orders[0]) != fmt.Sprint(orders[1]) {
		t.Errorf("the lanes pop %d events in another order than the heap's %d", len(orders[1]), len(orders[0]))
	}
}

func TestStoryKeepsHeadAndTail(t *testing.T) {
	for _, n := range []int{0, 5, storyHead, storyHead + 3, storyHead + storyTail, 100} {
		var s story
		for k := range n {
			s.add(audit.Record{Seq: uint64(k)})
		}
		var want []uint64
		for k := range n {
			if k < storyHead || k >= n-storyTail {
				want = append(want, uint64(k))
			}
		}
		var got []uint64
		for _, e := range s.entries() {
			got = append(got, e.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || s.n != n {
			t.Errorf("after %d: kept %v, want %v", n, got, want)
		}
	}
}

// TestEnginesAgree runs the scenario library, 400 fuzzed scenarios and
// 400 made to crowd the instants of periodic calls (tieScenario; 60 and 60
// under the race detector) with the
// engine as it is (plain and failed calls counted in closed form), with
// perCallEngine (an event per call, the engine before closed form), the
// same with every fleet laid out again after each fault window (relayout),
// and with naiveEngine (every event through the heap, every call through the
// session): the results, traces, reports and timelines included, must be
// byte-identical.
func TestEnginesAgree(t *testing.T) {
	var scs []*Scenario
	for _, file := range scenarioFiles(t) {
		sc, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		scs = append(scs, sc)
	}
	n := 400
	if raceEnabled {
		n = 60 // the race detector makes each run ten times slower
	}
	for k := range n {
		scs = append(scs, generate(runSeed(9, k)))
	}
	for k := range n {
		scs = append(scs, tieScenario(runSeed(23, k)))
	}
	defaultMin := relayoutMin
	defer func() { naiveEngine, perCallEngine, relayoutMin = false, false, defaultMin }()
	relaidOut, counted, failed := 0, 0, 0
	for k, sc := range scs {
		// Every fourth run draws its timeline too.
		opt := Options{Trace: true, Timeline: k%4 == 1}
		out := func(res *Result) []byte {
			var b bytes.Buffer
			Report(&b, sc, res, "reproduce")
			b.WriteString(TimelineSVG(res.Timeline))
			return append(res.JSON(), b.Bytes()...)
		}
		naiveEngine = true
		naive := out(Run(sc, opt))
		naiveEngine = false
		perCallEngine = true
		perCall := Run(sc, opt)
		perCallEngine = false
		if got := out(perCall); !bytes.Equal(naive, got) {
			t.Fatalf("%s: the engines differ:\n%s\n%s", sc.Name, naive, got)
		}
		res := Run(sc, opt)
		if got := out(res); !bytes.Equal(naive, got) {
			t.Fatalf("%s: counted in closed form, the run differs:\n%s\n%s", sc.Name, naive, got)
		}
		if res.Events < perCall.Events {
			counted++
			if res.Stats.FailedRequests > 0 {
				failed++
			}
		}
		// The engine that lays sessions out (an event per call) does so
		// after every fault window.
		relayoutMin, perCallEngine = 2, true
		r := newRun(sc, opt)
		r.loop()
		if got := out(r.finish()); !bytes.Equal(naive, got) {
			t.Fatalf("%s: laid out again, the run differs:\n%s\n%s", sc.Name, naive, got)
		}
		if r.pos != nil && len(r.ss) > 1 && r.sc.Fleet.StartSpread == 0 {
			relaidOut++ // pos exists only because relayout made it
		}
		relayoutMin, perCallEngine = defaultMin, false
	}
	if relaidOut < 5 || counted < len(scs)/2 || failed < n/8 {
		t.Errorf("only %d fleets were laid out again, %d runs counted calls in closed form, %d of them with failed calls", relaidOut, counted, failed)
	}
}
