package states

import (
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// driver plays a session against a fixed world: every refresh succeeds
// after latency with a token living life, and every call made with a token
// is rejected (when rejectAll) or accepted. It counts the refreshes started.
type driver struct {
	m         *Machine
	d         Data
	now       time.Time
	refreshes int
	pending   time.Time // when the refresh in flight answers; zero when none
	flight    uint64
}

func (dr *driver) step(in Input) {
	var fx Effects
	dr.m.Apply(&dr.d, &in, dr.now, &fx)
	if fx.StartRefresh {
		dr.refreshes++
		dr.flight = fx.Flight
		dr.pending = dr.now.Add(10 * time.Millisecond)
	}
}

// run advances to end in steps of every, feeding the refresh results, the
// wake-ups and, at each step, a call when calls is set.
func (dr *driver) run(end time.Time, every, life time.Duration, calls, rejectAll bool) {
	for dr.now.Before(end) {
		next := dr.now.Add(every)
		if !dr.pending.IsZero() && !dr.pending.After(next) {
			dr.now = dr.pending
			dr.pending = time.Time{}
			dr.step(Input{Kind: InResult, Flight: dr.flight, Verdict: policy.Verdict{Class: policy.OK},
				Issued: dr.now, Expiry: dr.now.Add(life)})
			continue
		}
		if w := dr.d.nextAt; !w.IsZero() && w.After(dr.now) && !w.After(next) {
			dr.now = w
			dr.step(Input{Kind: InWake})
			continue
		}
		dr.now = next
		dr.step(Input{Kind: InWake})
		if !calls {
			continue
		}
		dr.step(Input{Kind: InDemand})
		if dr.d.Usable(dr.now) {
			if rejectAll {
				dr.step(Input{Kind: InReject})
			} else {
				dr.step(Input{Kind: InAccept})
			}
		}
	}
}

// TestRejectionStormIsPaced: an API that answers 401 to every token, called
// every millisecond, draws token requests at the policy's pace — with the
// default policy fewer than 10 in the first 2 s, for every seed — where a
// machine that counted each refresh as a success would draw one per call.
func TestRejectionStormIsPaced(t *testing.T) {
	worst := 0
	for seed := uint64(0); seed < 500; seed++ {
		dr := &driver{m: NewMachine(Config{RefreshAhead: DefaultRefreshAhead}), now: epoch}
		dr.d = NewData(seed, epoch.Add(-time.Minute), epoch.Add(time.Hour))
		dr.run(epoch.Add(2*time.Second), time.Millisecond, time.Hour, true, true)
		worst = max(worst, dr.refreshes)
		if dr.d.state == Valid && !dr.d.rejected && !dr.d.probation && dr.refreshes > 1 {
			t.Fatalf("seed %d: a rejected token's cycle closed: %+v", seed, dr.d)
		}
	}
	if worst >= 10 {
		t.Fatalf("always-401 API drew %d token requests in 2 s (want < 10)", worst)
	}
	t.Logf("worst over 500 seeds: %d token requests in 2 s", worst)
}

// TestAcceptedTokenEndsProbation: the same callers against an API that
// accepts the new token cost one refresh, and a later rejection starts a
// fresh cycle at attempt 1.
func TestAcceptedTokenEndsProbation(t *testing.T) {
	dr := &driver{m: NewMachine(Config{}), now: epoch}
	dr.d = NewData(1, epoch.Add(-time.Minute), epoch.Add(time.Hour))
	dr.step(Input{Kind: InReject})
	dr.run(epoch.Add(2*time.Second), time.Millisecond, time.Hour, true, false)
	if dr.refreshes != 1 || dr.d.state != Valid || dr.d.probation || dr.d.attempt != 0 {
		t.Fatalf("refreshes %d, data %+v", dr.refreshes, dr.d)
	}
}

// TestTinyLifetimeIsPaced: an idle session whose server issues tokens living
// 1 ms or 1 µs refreshes no faster than the policy allows: with a constant
// 1 s policy, at most one refresh a second (today's machine without a floor
// would make thousands).
func TestTinyLifetimeIsPaced(t *testing.T) {
	for _, life := range []time.Duration{time.Millisecond, time.Microsecond, MinLifetime - 1} {
		for _, p := range []policy.Policy{policy.Constant{Wait: time.Second}, policy.Default()} {
			dr := &driver{m: NewMachine(Config{Policy: p, RefreshAhead: DefaultRefreshAhead}), now: epoch}
			dr.d = NewData(3, time.Time{}, time.Time{})
			dr.step(Input{Kind: InDemand})
			dr.run(epoch.Add(time.Minute), 100*time.Microsecond, life, false, false)
			if limit := 61; dr.refreshes > limit { // one a second, plus the first
				t.Errorf("life %v, policy %T: %d refreshes in a minute (want at most %d)", life, p, dr.refreshes, limit)
			}
			if dr.refreshes < 2 {
				t.Errorf("life %v, policy %T: %d refreshes: the session stopped trying", life, p, dr.refreshes)
			}
		}
	}
}

// TestLifetimeAtFloorIsTrusted: a token living MinLifetime closes its cycle
// and is refreshed at half its lifetime like any other.
func TestLifetimeAtFloorIsTrusted(t *testing.T) {
	dr := &driver{m: NewMachine(Config{RefreshAhead: DefaultRefreshAhead}), now: epoch}
	dr.d = NewData(3, time.Time{}, time.Time{})
	dr.step(Input{Kind: InDemand})
	dr.run(epoch.Add(10*time.Second), time.Millisecond, MinLifetime, false, false)
	if dr.d.probation || dr.refreshes < 15 {
		t.Fatalf("refreshes %d in 10 s, data %+v", dr.refreshes, dr.d)
	}
}

// TestOrphaned: a refresh token that a vanished holder may have spent is
// presented again only inside the reuse grace; otherwise the fallback grant,
// otherwise revocation with the honest cause.
func TestOrphaned(t *testing.T) {
	marked := epoch
	for _, tc := range []struct {
		grace    time.Duration
		fallback bool
		after    time.Duration
		want     Orphan
	}{
		{0, false, time.Second, OrphanRevoke},
		{0, true, time.Second, OrphanFallback},
		{time.Minute, false, 59 * time.Second, OrphanReplay},
		{time.Minute, false, time.Minute, OrphanRevoke},
		{time.Minute, true, 2 * time.Minute, OrphanFallback},
		{time.Minute, true, 30 * time.Second, OrphanReplay},
	} {
		m := NewMachine(Config{ReuseGrace: tc.grace, Fallback: tc.fallback})
		if got := m.Orphaned(marked, marked.Add(tc.after)); got != tc.want {
			t.Errorf("grace %v, fallback %v, %v after the mark: %v, want %v", tc.grace, tc.fallback, tc.after, got, tc.want)
		}
	}
}

// TestSolo: refreshing without the shared store is an opt-in, and even then
// only once the token is unusable.
func TestSolo(t *testing.T) {
	d := NewData(1, epoch, epoch.Add(time.Hour))
	for _, tc := range []struct {
		solo bool
		at   time.Duration
		want bool
	}{
		{false, 2 * time.Hour, false},
		{true, 30 * time.Minute, false},
		{true, 2 * time.Hour, true},
	} {
		if got := NewMachine(Config{SoloWhenStoreDown: tc.solo}).Solo(&d, epoch.Add(tc.at)); got != tc.want {
			t.Errorf("solo %v at %v: %v", tc.solo, tc.at, got)
		}
	}
}
