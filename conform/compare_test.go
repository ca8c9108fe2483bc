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
