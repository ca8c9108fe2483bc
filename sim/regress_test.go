package sim

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/states"
	"github.com/google/go-cmp/cmp"
)

// TestWaitingCallsBeyondUint32 queues more than 2^32 waiting calls on one
// session while the token endpoint hangs: every one of them times out and
// must be counted, which a 32-bit ticket wrapped and undercounted.
func TestWaitingCallsBeyondUint32(t *testing.T) {
	const bursts, count = 430, 10_000_000
	var work strings.Builder
	for range bursts {
		fmt.Fprintf(&work, "{kind: burst, at: 1h30m, count: %d}, ", count)
	}
	sc := mustParse(t, `{name: w, duration: 2h, token: {ttl: 1h}, session: {wait_for_refresh: 1m, refresh_ahead: 0s},
		server: {faults: [{from: 59m, to: 2h, kind: hang}]}, workload: [`+work.String()+`]}`)
	res := Run(sc, Options{})
	if want := int64(bursts * count); res.Stats.FailedRequests != want || res.Stats.Requests != want {
		t.Errorf("%d of %d calls failed, want all %d", res.Stats.FailedRequests, res.Stats.Requests, want)
	}
}

// TestFaultBeforeCallsAtItsInstant: a reject_access at 30m takes effect at
// that instant, so a burst at 30m already meets the rejection (5 failed
// calls, then a refresh), even though the burst was queued first.
func TestFaultBeforeCallsAtItsInstant(t *testing.T) {
	sc := mustParse(t, `{name: r, duration: 1h, token: {ttl: 2h},
		server: {faults: [{at: 30m, kind: reject_access}]}, workload: [{kind: burst, at: 30m, count: 5}]}`)
	res := Run(sc, Options{})
	if res.Stats.FailedRequests != 5 || res.Stats.RefreshRequests != 1 {
		t.Errorf("failed %d calls, %d refreshes; want 5 failed calls and 1 refresh",
			res.Stats.FailedRequests, res.Stats.RefreshRequests)
	}
}

// TestInitialStateIsEntered: a session that starts valid and never leaves
// it has entered valid, so never_states: [valid] fails and time_in_state
// lists it.
func TestInitialStateIsEntered(t *testing.T) {
	res := Run(mustParse(t, `{name: n, duration: 30m, token: {ttl: 1h}, expect: {never_states: [valid]}}`), Options{})
	want := []Expectation{{Name: "never_states", Want: []string{"valid"}, Got: []string{"valid"}, OK: false}}
	if diff := cmp.Diff(want, res.Expectations); diff != "" || res.Passed {
		t.Errorf("passed %v, expectations (-want +got):\n%s", res.Passed, diff)
	}
	if diff := cmp.Diff(StateDurations{{states.Valid, Total{lo: uint64(30 * time.Minute)}}}, res.Stats.TimeInState, cmp.AllowUnexported(Total{})); diff != "" {
		t.Errorf("time in state (-want +got):\n%s", diff)
	}
}

// TestFleetSumsAreExact: fleet-wide sums beyond int64 nanoseconds (2
// million sessions over 2h) are exact, where they once saturated at the
// largest Duration and the report printed 2562047h47m16.854775807s. The
// sums are driven past the edge directly: running two million sessions
// would be too slow for a test.
func TestFleetSumsAreExact(t *testing.T) {
	r := newRun(mustParse(t, `{name: f, duration: 2h, token: {ttl: 3h}, fleet: {sessions: 2}}`), Options{})
	r.loop()
	r.timeIn[states.Valid].add(math.MaxInt64)
	r.unusable.add(math.MaxInt64)
	res := r.finish()
	want := StateDurations{{states.Valid, Total{lo: math.MaxInt64 + uint64(4*time.Hour)}}}
	if diff := cmp.Diff(want, res.Stats.TimeInState, cmp.AllowUnexported(Total{})); diff != "" {
		t.Errorf("time in state (-want +got):\n%s", diff)
	}
	if got, want := string(res.JSON()), `"time_in_state":{"valid":"2562051h47m16.854775807s"}`; !strings.Contains(got, want) {
		t.Errorf("JSON %s lacks %s", got, want)
	}
	var b strings.Builder
	Report(&b, r.sc, res, "")
	if want := "time in state (sum over 2 sessions): valid 2562051h47m16.855s; without a usable token (sum): 2562047h47m16.855s"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}

// TestReportImmediateOnlyWhenStillUsable: the session has no token from 1h
// until its retry succeeds exactly when the 503 window ends at 1h2m. The
// recovery's after is 0s, but the report must not claim the tokens were
// still usable.
func TestReportImmediateOnlyWhenStillUsable(t *testing.T) {
	sc := mustParse(t, `{name: z, duration: 1h30m, token: {ttl: 1h}, server: {latency: 0s, faults: [{from: 1h, to: 1h2m, kind: status, status: 503}]},
		session: {refresh_ahead: 0s, policy: {kind: constant, initial: 1m, jitter: none}}}`)
	res := Run(sc, Options{})
	want := []Recovery{{FaultEnd: 62 * time.Minute, UsableAt: 62 * time.Minute, Touched: 1}}
	if diff := cmp.Diff(want, res.Recoveries); diff != "" {
		t.Fatalf("recoveries (-want +got):\n%s", diff)
	}
	var b strings.Builder
	Report(&b, sc, res, reproduceLine(res, "z.yaml"))
	if got := b.String(); strings.Contains(got, "still usable") || !strings.Contains(got, "ending 1h2m0s: 0s (1 session(s) refreshed at that instant)") {
		t.Errorf("report:\n%s", got)
	}
}

// TestRotatedTokenKeptWhenExpiryDoesNotAdvance (found by fuzz): a refresh
// that rotates the refresh token but returns an access token whose expiry
// did not advance is a failed attempt, yet the client keeps the new refresh
// token, as the runtime does; presenting the retired one revoked the
// session.
func TestRotatedTokenKeptWhenExpiryDoesNotAdvance(t *testing.T) {
	sc := mustParse(t, `{name: r, seed: 15835665596219762336, duration: 24m,
		token: {ttl: 1h, rotate: true, omit_expires_in: true}, clock_skew: 1m10s,
		session: {refresh_ahead: 0s, request_timeout: 1.5s, policy: {kind: none}},
		server: {latency: 64ms, faults: [{from: 15m45s, to: 24m, kind: reject_access}]},
		workload: [{kind: requests, every: 2m51s}], fleet: {start_spread: 22m30s}}`)
	res := Run(sc, Options{})
	if res.FinalState == "revoked" || len(res.Violations) > 0 {
		t.Fatalf("final %s, violations %v", res.FinalState, res.Violations)
	}
}

// TestRecoveryNotClaimedForADoomedSession: a lost answer during a
// refresh-ahead cycle on a rotating server postpones the cycle and leaves a
// still-valid token; the session is revoked an hour later. The window did
// touch it (a postponed cycle is open), it never refreshed after the
// window, so no max_recovery can pass.
func TestRecoveryNotClaimedForADoomedSession(t *testing.T) {
	sc, err := Load("../testdata/scenarios/lost-response-ahead-revoked-later.yaml")
	if err != nil {
		t.Fatal(err)
	}
	long := 2 * time.Hour
	sc.Expect = Expect{MaxRecovery: &long}
	res := Run(sc, Options{})
	want := []Recovery{{FaultEnd: time.Hour + time.Second, Never: true, UsableAt: time.Hour + time.Second, Touched: 1}}
	if diff := cmp.Diff(want, res.Recoveries); diff != "" {
		t.Errorf("recoveries (-want +got):\n%s", diff)
	}
	if res.Passed || res.FinalState != "revoked" {
		t.Errorf("passed %v, final state %s: max_recovery must fail for a session revoked after the window", res.Passed, res.FinalState)
	}
	if j := string(res.JSON()); !strings.Contains(j, `"recoveries":[{"fault_end":"1h0m1s","usable_at":"never","after":"never"}]`) {
		t.Errorf("JSON %s", j)
	}
}

// TestRecoveryOfATouchedSession: a session in backoff with a still-valid
// token when a window ends recovers at its first successful refresh after
// the end, not at the end; a session the window did not touch recovers at
// once.
func TestRecoveryOfATouchedSession(t *testing.T) {
	sc := mustParse(t, `{name: b, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 10m, policy: {kind: constant, initial: 2m, jitter: none}},
		server: {latency: 0s, faults: [{from: 49m, to: 51m, kind: status, status: 503}, {from: 1h20m, to: 1h21m, kind: status, status: 503}]}}`)
	res := Run(sc, Options{})
	want := []Recovery{
		{FaultEnd: 51 * time.Minute, UsableAt: 52 * time.Minute, After: time.Minute, Touched: 1},
		{FaultEnd: 81 * time.Minute, UsableAt: 81 * time.Minute},
	}
	if diff := cmp.Diff(want, res.Recoveries); diff != "" {
		t.Errorf("recoveries (-want +got):\n%s", diff)
	}
}
