package conform

import (
	"testing"
	"time"

	"github.com/authfsm/authfsm/states"
)

func tr(s int, at time.Duration, ev states.Event, cause string) Transition {
	return Transition{Session: s, At: at, From: states.Valid, To: states.Refreshing, Event: ev, Cause: cause, Attempt: 1, NextAt: NoNext}
}

// TestCompare: the first difference is the earliest in virtual time over
// the sessions (each compared on its own), a sequence that ends first
// differs, and with equal sequences the families lost decide.
func TestCompare(t *testing.T) {
	a := [][]Transition{
		{tr(0, time.Minute, states.Refresh, "x"), tr(0, time.Hour, states.Refresh, "late")},
		{tr(1, 2*time.Minute, states.Refresh, "y")},
	}
	b := [][]Transition{
		{tr(0, time.Minute, states.Refresh, "x"), tr(0, time.Hour, states.Refresh, "other")},
		{tr(1, 2*time.Minute, states.Refresh, "z")},
	}
	d := compare(a, b, 0, 0)
	if d == nil || d.Session != 1 || d.Index != 0 || d.Simulator.Cause != "y" || d.Runtime.Cause != "z" {
		t.Fatalf("first difference %+v, want session 1's at 2m", d)
	}
	if got := d.String(); got != "session 1, transition 1:\n  simulator: 2m0s valid -refresh-> refreshing attempt 1 (y)\n  runtime:   2m0s valid -refresh-> refreshing attempt 1 (z)" {
		t.Errorf("String: %q", got)
	}
	// The order of different sessions' transitions is not compared: the
	// sessions are compared one by one.
	if d := compare(a, a, 1, 1); d != nil {
		t.Errorf("a run differs from itself: %v", d)
	}
	short := [][]Transition{a[0][:1], a[1]}
	if d := compare(a, short, 0, 0); d == nil || d.Runtime != nil || d.Simulator.Cause != "late" {
		t.Errorf("a sequence that ends first: %+v", d)
	}
	if d := compare(a, a, 2, 1); d == nil || d.Session != -1 || d.String() != "families lost (reuse detection or a refusal): simulator 2, runtime 1" {
		t.Errorf("families lost: %+v", d)
	}
}

// TestComparedFields: two transitions agree only when they agree on every
// field but the session: virtual time, from, to, event, typed reason,
// cause, attempt, next attempt, the family's generation and the restarts
// of the process. The cause alone is left out where its detail is the
// words of what lies outside the session (a resource server's answer, a
// store's error).
func TestComparedFields(t *testing.T) {
	base := Transition{Session: 0, At: time.Minute, From: states.Waiting, To: states.Valid, Event: states.Adopt,
		Reason: states.ReasonAdopted, Cause: "pair published by another process (generation 2)", Attempt: 1,
		NextAt: NoNext, Generation: 2, Restarts: 1}
	words := func(r states.Reason) func(a, b *Transition) {
		return func(a, b *Transition) { a.Reason, b.Reason, b.Cause = r, r, "other words" }
	}
	for _, tc := range []struct {
		name  string
		edit  func(a, b *Transition)
		agree bool
	}{
		{"another session", func(_, b *Transition) { b.Session = 3 }, true},
		{"time", func(_, b *Transition) { b.At++ }, false},
		{"from", func(_, b *Transition) { b.From = states.Refreshing }, false},
		{"to", func(_, b *Transition) { b.To = states.Expired }, false},
		{"event", func(_, b *Transition) { b.Event = states.SetToken }, false},
		{"reason", func(_, b *Transition) { b.Reason = states.ReasonSetToken }, false},
		{"cause", func(_, b *Transition) { b.Cause = "other words" }, false},
		{"attempt", func(_, b *Transition) { b.Attempt = 2 }, false},
		{"next attempt", func(_, b *Transition) { b.NextAt = time.Hour }, false},
		{"generation", func(_, b *Transition) { b.Generation = 3 }, false},
		{"restarts", func(_, b *Transition) { b.Restarts = 0 }, false},
		{"a rejection in other words", words(states.ReasonRejected), true},
		{"a store's error in other words", words(states.ReasonStoreDown), true},
	} {
		a, b := base, base
		tc.edit(&a, &b)
		if got := agree(a, b); got != tc.agree {
			t.Errorf("%s: agree = %v, want %v", tc.name, got, tc.agree)
		}
	}
}

// TestSameInstantSwapIsADifference: two processes act at the same instant
// (docs/SCENARIOS.md, "Processes that act at the same instant"). The order
// in which their transitions are listed is not compared, but which one
// took the lease is: if the runtime let the other one first, each
// process's own sequence differs, and conform reports the earlier process.
func TestSameInstantSwapIsADifference(t *testing.T) {
	took := Transition{At: time.Minute, From: states.Refreshing, To: states.Valid, Event: states.Succeed, Attempt: 1, NextAt: NoNext}
	waited := Transition{At: time.Minute, From: states.Refreshing, To: states.Waiting, Event: states.Wait,
		Reason: states.ReasonLeaseBusy, Cause: "another process holds the refresh lease", Attempt: 1, NextAt: NoNext}
	at := func(s int, tr Transition) Transition { tr.Session = s; return tr }
	simT := [][]Transition{{at(0, took)}, {at(1, waited)}}
	if d := compare(simT, [][]Transition{{at(0, took)}, {at(1, waited)}}, 0, 0); d != nil {
		t.Errorf("the same run differs: %v", d)
	}
	d := compare(simT, [][]Transition{{at(0, waited)}, {at(1, took)}}, 0, 0)
	if d == nil || d.Session != 0 || d.Index != 0 || d.Simulator.Event != states.Succeed || d.Runtime.Event != states.Wait {
		t.Errorf("who took the lease swapped: %+v", d)
	}
}
