package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// traceOf runs src with a trace and fails the test on a broken invariant.
func traceOf(t *testing.T, src string) *Result {
	t.Helper()
	res := Run(mustParse(t, src), Options{Trace: true})
	if len(res.Violations) > 0 {
		t.Fatalf("invariants broken: %v", res.Violations)
	}
	return res
}

// find returns the trace entries of session (any when -1) with event ev.
func find(res *Result, session int, ev states.Event) []audit.Record {
	var out []audit.Record
	for _, e := range res.Trace {
		if e.Event == ev && (session < 0 || sessionOf(e) == session) {
			out = append(out, e)
		}
	}
	return out
}

func at(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A family of four processes that start together with one refresh token,
// on a rotating server with reuse detection.
const family4 = `{name: f, duration: 3h, token: {ttl: 1h, rotate: true, reuse_detection: true},
	fleet: {sessions: 4, families: 1}, workload: [{kind: requests, every: 1m}]`

// TestShareNoneLosesTheFamily: processes that share nothing all refresh at
// the refresh point; the first rotates the token, the next presents its
// retired copy, and reuse detection revokes the whole family, the first
// process's new token included.
func TestShareNoneLosesTheFamily(t *testing.T) {
	res := traceOf(t, family4+`, share: {kind: none}}`)
	if res.FinalState != "revoked" || res.Stats.FamilyRevocations != 1 || res.Stats.RefreshSuccesses != 1 || res.Stats.StoreRequests != 0 {
		t.Fatalf("final %s, stats %+v; want every process revoked, one family lost after one success", res.FinalState, res.Stats)
	}
	if d := find(res, 0, states.Deny); len(d) != 1 || atOf(d[0]) != "1h50m0.1s" {
		t.Errorf("the first refresher is denied at %v, want at its next refresh (answered at 1h50m0.1s)", d)
	}
}

// TestShareStoreKeepsTheFamily: with a shared store one process refreshes
// per cycle and the others adopt its pair one round trip after the publish.
// Each process's refresh point is the margin's moved earlier by its seeded
// spread, so the first refreshes alone, and the others, whose watch (the
// one they keep for a logout) reports the publish, adopt the pair before
// they reach theirs. Every round trip is counted: per cycle the holder
// reads, acquires, reads again, marks and publishes (5), and each process's
// watch returns and waits again (4). In lockstep each other process was
// refused the lease and waited instead.
func TestShareStoreKeepsTheFamily(t *testing.T) {
	res := traceOf(t, family4+`, share: {kind: store, latency: 2ms}}`)
	st := res.Stats
	if res.FinalState != "valid" || st.FailedRequests != 0 || st.FamilyRevocations != 0 || st.RefreshRequests != 3 || st.StoreRequests != 3*(5+4) {
		t.Fatalf("final %s, stats %+v; want 3 refreshes, 27 round trips, nothing lost", res.FinalState, st)
	}
	var succeed time.Duration
	for _, e := range res.Trace {
		switch e.Event {
		case states.Succeed:
			succeed = at(t, atOf(e))
		case states.Adopt:
			// The holder installs its answer and publishes it (one round
			// trip); the watch's Wait returns one round trip later.
			if got := at(t, atOf(e)); got != succeed+4*time.Millisecond || e.Reason != states.ReasonAdopted || e.From != states.Valid {
				t.Errorf("session %d adopted at %v from %s (%q), want %v from valid", sessionOf(e), got, e.From, e.Cause, succeed+4*time.Millisecond)
			}
		}
	}
	if w := find(res, -1, states.Wait); len(w) != 0 || len(find(res, -1, states.TakeOver)) != 0 || len(find(res, -1, states.Adopt)) != 9 {
		t.Errorf("%d waits, %d adoptions; want none and 9, and no take-over", len(w), len(find(res, -1, states.Adopt)))
	}
	if r := find(res, -1, states.RefreshAhead); len(r) != 3 {
		t.Errorf("refresh points reached %v, want one per cycle", r)
	}
}

// TestStoreHolderKeepsTheLeaseThroughItsRetry: the holder's first request
// meets a 503, which may have been processed; it keeps the lease through
// its retry 40 s later, so the others, whose wait for the first lease ends
// at 1h0m30s, find it extended and wait again rather than take over the
// refresh token it may have spent; its retry succeeds and they adopt. The
// processes refresh at expiry (no margin, so no spread of the refresh
// point either), so that they all meet the first lease.
func TestStoreHolderKeepsTheLeaseThroughItsRetry(t *testing.T) {
	res := traceOf(t, `{name: k, duration: 2h5m, token: {ttl: 1h, rotate: true, reuse_detection: true},
		session: {refresh_ahead: 0s, policy: {kind: constant, initial: 40s, jitter: none}},
		fleet: {sessions: 3, families: 1}, share: {kind: store},
		server: {faults: [{from: 1h, to: 1h0m1s, kind: status, status: 503}]}}`)
	if res.FinalState != "valid" || res.Stats.RefreshRequests != 3 || res.Stats.RefreshSuccesses != 2 {
		t.Fatalf("final %s, stats %+v; want the holder's retry to succeed, and one refresh in the next cycle", res.FinalState, res.Stats)
	}
	for _, e := range res.Trace {
		if sessionOf(e) != 0 && e.Event == states.Succeed {
			t.Errorf("session %d refreshed at %s", sessionOf(e), atOf(e))
		}
	}
	w, a := find(res, 1, states.Wait), find(res, 1, states.Adopt)
	if len(w) != 3 || atOf(w[1]) != "1h0m30.003s" || len(a) != 2 || atOf(a[0]) != "1h0m40.11s" {
		t.Errorf("session 1 waited at %v and adopted at %v; want a second wait at 1h0m30.003s (a read that finds the lease held waits at once) and an adoption at 1h0m40.11s", w, a)
	}
}

// The crashed-holder scenarios: the first process to refresh crashes right
// after sending (the server rotates the token); the others take over when
// its lease lapses.
const crash = `{name: c, duration: 3h, fleet: {sessions: 4, families: 1}, share: {kind: store},
	server: {faults: [{from: 54m30s, to: 55m, kind: crash_holder, restart: 5s}]},
	workload: [{kind: requests, every: 1m}], `

// TestCrashedHolderReplayInsideGrace: the take-over 30 s after the mark is
// inside the 2-minute grace, so the retired token is presented again and
// the server accepts it.
func TestCrashedHolderReplayInsideGrace(t *testing.T) {
	res := traceOf(t, crash+`token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 2m}}`)
	if res.FinalState != "valid" || res.Stats.FamilyRevocations != 0 || res.Stats.RefreshRequests != 4 {
		t.Fatalf("final %s, stats %+v; want valid after a replay", res.FinalState, res.Stats)
	}
	// Session 2 reaches the first refresh point (54m30.541s), takes the
	// lease (until 55m0.543s) and crashes after sending.
	first := find(res, -1, states.RefreshAhead)[0]
	if sessionOf(first) != 2 || atOf(first) != "54m30.541s" {
		t.Fatalf("first refresh point %+v, want session 2's at 54m30.541s", first)
	}
	s := find(res, -1, states.Succeed)
	if len(s) == 0 || atOf(s[0]) != "55m0.597s" || s[0].Cause != "" {
		t.Errorf("first success %v, want the replay at 55m0.597s", s)
	}
	// The crashed process starts again at 54m35.545s as a new session,
	// with the pair it was given (nothing published yet): no transition
	// records the restart, and the new session's first is its refresh-ahead
	// point, already past.
	if r := restartedAt(res, 2); r == nil || atOf(*r) != "54m35.545s" || r.From != states.Valid || r.Event != states.RefreshAhead {
		t.Errorf("first transition after the restart %+v, want valid -refresh_ahead-> at 54m35.545s", r)
	}
	if r := find(res, 2, states.SetToken); len(r) != 0 {
		t.Errorf("a restart recorded as %v", r)
	}
}

// restartedAt returns session i's first transition after its process
// restarted, or nil.
func restartedAt(res *Result, i int) *audit.Record {
	for k, e := range res.Trace {
		if sessionOf(e) == i && e.Restarts > 0 {
			return &res.Trace[k]
		}
	}
	return nil
}

// TestCrashedHolderFallback: without a grace, the fallback grant replaces
// the spent token; the pair it yields has no refresh token worth
// presenting, so the family's later refreshes use the fallback too and
// reuse detection never fires.
func TestCrashedHolderFallback(t *testing.T) {
	res := traceOf(t, crash+`token: {ttl: 1h, rotate: true, reuse_detection: true}, session: {fallback: true}}`)
	if res.FinalState != "valid" || res.Stats.FamilyRevocations != 0 || res.Stats.FailedRequests != 0 {
		t.Fatalf("final %s, stats %+v; want valid through the fallback grant", res.FinalState, res.Stats)
	}
	if s := find(res, -1, states.Succeed); len(s) != 3 || s[0].Cause != "fallback grant: "+states.CrashedHolderCause {
		t.Errorf("successes %v, want the first by the fallback grant", s)
	}
}

// TestCrashedHolderRevokes: with neither, each process that takes over
// revokes itself with the honest cause rather than present the token, and
// the family counts once.
func TestCrashedHolderRevokes(t *testing.T) {
	res := traceOf(t, crash+`token: {ttl: 1h, rotate: true, reuse_detection: true}}`)
	if res.FinalState != "revoked" || res.Stats.FamilyRevocations != 1 || res.Stats.RefreshRequests != 1 {
		t.Fatalf("final %s, stats %+v; want revoked, one request (the crashed one)", res.FinalState, res.Stats)
	}
	for _, d := range find(res, -1, states.Deny) {
		if d.Cause != states.CrashedHolderCause {
			t.Errorf("denied with %q", d.Cause)
		}
	}
}

// TestRepeatedCrashesMeasureGraceFromTheFirstMark: the holders crash for
// two minutes, each after replaying the token the first one spent at its
// refresh point (54m30.545s). The mark keeps its first instant, so the
// take-over at 56m30.55s knows that the 2-minute grace is over and revokes
// itself instead of presenting a token the server would answer with the
// whole family's revocation.
func TestRepeatedCrashesMeasureGraceFromTheFirstMark(t *testing.T) {
	res := traceOf(t, `{name: c, duration: 2h, fleet: {sessions: 4, families: 1}, share: {kind: store},
		token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 2m},
		server: {faults: [{from: 54m30s, to: 57m, kind: crash_holder, restart: 5s}]}}`)
	d := find(res, -1, states.Deny)
	if len(d) == 0 || d[0].Cause != states.CrashedHolderCause || res.Stats.RefreshRequests != 4 {
		t.Fatalf("denials %v, stats %+v; want the crashed-holder cause after 4 crashed requests", d, res.Stats)
	}
	r := newRun(mustParse(t, `{name: c, duration: 2h, fleet: {sessions: 4, families: 1}, share: {kind: store},
		token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 2m},
		server: {faults: [{from: 54m30s, to: 57m, kind: crash_holder, restart: 5s}]}}`), Options{})
	r.loop()
	if r.fams[0].revoked {
		t.Errorf("the server revoked the family: a retired token was presented outside the grace")
	}
}

// TestCrashWithoutStoreRestartsWithItsOwnCopy: a process that shares
// nothing comes back with the refresh token its lost refresh rotated; once
// the grace is over, presenting it revokes the family.
func TestCrashWithoutStoreRestartsWithItsOwnCopy(t *testing.T) {
	res := traceOf(t, `{name: c, duration: 2h, token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 1m},
		server: {faults: [{from: 55m, to: 55m10s, kind: crash_holder, restart: 2m}]}, workload: [{kind: requests, every: 1m}]}`)
	if res.FinalState != "revoked" || res.Stats.FamilyRevocations != 1 || res.Stats.FailedRequests != 2+62 {
		t.Fatalf("final %s, stats %+v; want revoked, the calls of the 2 minutes down and those after 57m failed", res.FinalState, res.Stats)
	}
	// It starts again at 57m with its own store's pair, which expires at
	// 1h: its refresh-ahead point (55m) is past, due at once.
	if r := restartedAt(res, 0); r == nil || atOf(*r) != "57m0s" || r.From != states.Valid || r.Restarts != 1 {
		t.Errorf("first transition after the restart %+v, want one from valid at 57m0s", r)
	}
}

// TestStoreDown: the store is unreachable from 1h45m to 2h10m. The refresh
// due at the first process's refresh point (1h49m4.921s) fails at its
// first round trip and retries at the policy's pace, sending no request; the token is served until it expires at
// 1h55m, and the family recovers within the policy's longest delay once
// the store is back.
func TestStoreDown(t *testing.T) {
	res := traceOf(t, family4+`, share: {kind: store}, server: {faults: [{from: 1h45m, to: 2h10m, kind: store_down}]}}`)
	if res.FinalState != "valid" || res.Stats.RefreshRequests != 2 || res.Stats.FamilyRevocations != 0 {
		t.Fatalf("final %s, stats %+v; want valid, one refresh per cycle", res.FinalState, res.Stats)
	}
	f := find(res, -1, states.Fail)
	if len(f) == 0 || f[0].Reason != states.ReasonStoreDown || atOf(f[0]) != "1h49m4.921s" {
		t.Fatalf("failures %v, want store_down from 1h49m4.921s", f)
	}
	// The calls fail from the expiry (about 1h55m) to the recovery only.
	if rc := res.Recoveries[0]; rc.Never || rc.After > time.Minute+time.Second || res.Stats.FailedRequests > 4*16 {
		t.Errorf("recovery %+v, %d failed calls", rc, res.Stats.FailedRequests)
	}
}

// TestStoreDownBeforePublish: the store goes down between the refresh and
// its publish. The holder (session 2, the first at its refresh point,
// 54m30.541s) installs the new pair all the same (it holds the only copy
// of the rotated refresh token), keeps its lease and its mark, and asks
// for the publish again, 1 s, 2 s, 4 s, 8 s apart. The processes that
// reach their refresh points while the store is down retry at their
// policy's pace; the one that reaches it after the store is back finds the
// lease held and waits. Once the publish lands they all adopt it, before
// the holder's lease lapses. Nobody presents the retired token, and no
// second request is sent.
func TestStoreDownBeforePublish(t *testing.T) {
	res := traceOf(t, family4+`, share: {kind: store}, session: {policy: {kind: constant, initial: 20s, jitter: none}},
		server: {faults: [{from: 54m30.57s, to: 54m40s, kind: store_down}]}}`)
	if res.FinalState != "valid" || res.Stats.FamilyRevocations != 0 || res.Stats.RefreshRequests != 3 || res.Stats.FailedRequests != 0 {
		t.Fatalf("final %s, stats %+v", res.FinalState, res.Stats)
	}
	if f, s := find(res, 2, states.Fail), find(res, 2, states.Succeed); len(f) != 0 || len(s) == 0 || atOf(s[0]) != "54m30.595s" {
		t.Errorf("holder's failures %v, successes %v; want none, and the first at its answer", f, s)
	}
	for _, k := range []int{0, 1, 3} {
		a := find(res, k, states.Adopt)
		if len(a) == 0 || a[0].Cause != (states.Transition{Reason: states.ReasonAdopted, Generation: 1}).Cause() || at(t, atOf(a[0])) < 54*time.Minute+40*time.Second || at(t, atOf(a[0])) > 55*time.Minute {
			t.Errorf("session %d adopted %v; want generation 1 once the store is back, before the lease lapses", k, a)
		}
	}
	if len(find(res, -1, states.Wait)) != 1 || len(find(res, 0, states.Fail)) != 1 {
		t.Errorf("waits %v, session 0's failures %v; want one process to wait, session 0 to meet the store down", find(res, -1, states.Wait), find(res, 0, states.Fail))
	}
	if len(find(res, -1, states.TakeOver)) != 0 {
		t.Error("a process took over the holder's lease")
	}
}

// TestFallbackWithoutFamilies: a lost answer on a rotating server without
// grace; the retry's refusal is followed by the fallback grant within the
// same attempt, as the runtime words it.
func TestFallbackWithoutFamilies(t *testing.T) {
	res := traceOf(t, `{name: l, seed: 13, duration: 3h, token: {ttl: 1h, rotate: true},
		session: {refresh_ahead: 0s, fallback: true}, workload: [{kind: requests, every: 1m}],
		server: {faults: [{from: 1h, to: 1h0m0.1s, kind: lost_response}]}}`)
	s := find(res, 0, states.Succeed)
	want := "fallback grant after the refresh token was refused (400 invalid_grant: " +
		"refresh token probably consumed by a refresh whose answer was lost (502 Bad Gateway))"
	if res.FinalState != "valid" || len(s) != 2 || s[0].Cause != want || s[1].Reason != states.ReasonFallbackDead || res.Stats.RefreshRequests != 3 {
		t.Fatalf("final %s, successes %v, stats %+v", res.FinalState, s, res.Stats)
	}
	if res.Stats.FamilyRevocations != 0 {
		t.Errorf("a family counted as lost: %d", res.Stats.FamilyRevocations)
	}
}

// TestFallbackRefusedForTheClient: a refusal that blames the client
// (invalid_client) would refuse the fallback grant too, which authenticates
// as the same client in the model: the session stops at once with the
// misconfiguration, without trying it (states.Machine.Fallback).
func TestFallbackRefusedForTheClient(t *testing.T) {
	res := traceOf(t, `{name: m, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s, fallback: true},
		server: {faults: [{from: 59m, to: 1h1m, kind: status, status: 401, error: invalid_client}]}}`)
	d := find(res, 0, states.Deny)
	want := "401 invalid_client: client misconfigured"
	if res.FinalState != "revoked" || len(d) != 1 || d[0].Cause != want || res.Stats.FamilyRevocations != 1 {
		t.Fatalf("final %s, denials %v", res.FinalState, d)
	}
}

// TestFamilyInvariants: a lease shorter than one refresh (which neither
// Parse nor the runtime allows: the run's lease is at least the request
// timeout plus states.LeaseMargin) lets a second process take over while
// the first one's request hangs, and inside the reuse grace present the
// token again, which the run reports; and a process presenting a refresh
// token older than the published one is reported too.
func TestFamilyInvariants(t *testing.T) {
	sc := mustParse(t, `{name: f, duration: 3h, token: {ttl: 1h, rotate: true, reuse_grace: 1m},
		fleet: {sessions: 4, families: 1}, share: {kind: store}, server: {faults: [{from: 54m30s, to: 56m, kind: hang}]}}`)
	short := newRun(sc, Options{})
	short.lease = int64(5 * time.Second)
	short.loop()
	res := short.finish()
	if res.Passed || len(res.Violations) == 0 || res.Violations[0].Invariant != "one refresh of a family in flight" {
		t.Fatalf("violations %v, want a second refresh in flight", res.Violations)
	}
	if e := res.Expectations[len(res.Expectations)-1]; e.Name != "invariants" || e.OK {
		t.Errorf("expectations %v", res.Expectations)
	}

	r := newRun(mustParse(t, family4+`, share: {kind: store}}`), Options{})
	r.stores[0].gen, r.stores[0].pubRT = 1, 2
	s := &r.ss[1]
	s.cliRTGen, s.holder = 1, 7
	r.checkPresent(1, s, true, true, 0) // the fallback grant presents no refresh token
	if len(r.inv.list) != 0 {
		t.Fatalf("violations %v", r.inv.list)
	}
	r.checkPresent(1, s, false, true, 0)
	if len(r.inv.list) != 1 || r.inv.list[0].Invariant != "no retired refresh token presented" {
		t.Errorf("violations %v, want the retired token", r.inv.list)
	}
}

// TestFamiliesSplitEvenly: sessions are split in order, sizes differing by
// at most one, and famRange inverts famOf.
func TestFamiliesSplitEvenly(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{10, 3}, {40, 10}, {7, 7}, {5, 1}, {1_000_003, 999}} {
		r := &run{ss: make([]session, tc.n), fams: make([]family, tc.k)}
		sizes := map[uint32]int{}
		prev := uint32(0)
		for i := range uint32(tc.n) {
			f := r.famOf(i)
			if f < prev || f >= uint32(tc.k) {
				t.Fatalf("%d/%d: session %d in family %d after %d", tc.n, tc.k, i, f, prev)
			}
			prev = f
			sizes[f]++
			if lo, hi := r.famRange(f); i < lo || i >= hi {
				t.Fatalf("%d/%d: session %d of family %d outside [%d, %d)", tc.n, tc.k, i, f, lo, hi)
			}
		}
		lo, hi := tc.n, 0
		for _, n := range sizes {
			lo, hi = min(lo, n), max(hi, n)
		}
		if len(sizes) != tc.k || hi-lo > 1 {
			t.Errorf("%d sessions in %d families: sizes from %d to %d", tc.n, tc.k, lo, hi)
		}
	}
}

// TestFamilyReport: the verdict line names the families and how they share,
// and a line gives the new counts.
func TestFamilyReport(t *testing.T) {
	sc := mustParse(t, family4+`, share: {kind: none}}`)
	var b strings.Builder
	res := Run(sc, Options{})
	Report(&b, sc, res, reproduceLine(res, "f.yaml"))
	for _, want := range []string{"4 sessions in 1 family sharing nothing", "token families revoked: 1\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
