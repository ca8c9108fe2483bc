package conform

import (
	"fmt"
	"strconv"

	"github.com/google/go-cmp/cmp"
)

// This file is the one place that says what must agree between the
// simulator and the runtime (docs/SCENARIOS.md, "authfsm conform").

// compared is what must agree of one transition: all of it but the
// session, which is where it is compared. When transitions carry a typed
// reason, it takes the place of Cause here.
func compared(t Transition) Transition {
	t.Session = 0
	return t
}

// agree reports whether two transitions agree.
func agree(a, b Transition) bool { return cmp.Equal(compared(a), compared(b)) }

// Difference is the first disagreement between the simulator and the
// runtime.
type Difference struct {
	// Session is the session whose transitions differ, and Index the
	// position of the first that differs in its sequence (from 0); both
	// are -1 for a difference in the family outcomes.
	Session, Index int
	// Simulator and Runtime are the differing transitions; nil when that
	// side's sequence ended first.
	Simulator, Runtime *Transition
	// SimulatorLost and RuntimeLost count the families lost (revoked by
	// reuse detection or denied), for a difference in family outcomes.
	SimulatorLost, RuntimeLost int
}

// String describes the difference on two or three lines.
func (d *Difference) String() string {
	if d.Session < 0 {
		return fmt.Sprintf("families lost (reuse detection or a refusal): simulator %d, runtime %d", d.SimulatorLost, d.RuntimeLost)
	}
	side := func(t *Transition) string {
		if t == nil {
			return "(no more transitions)"
		}
		return t.String()
	}
	return "session " + strconv.Itoa(d.Session) + ", transition " + strconv.Itoa(d.Index+1) + ":\n" +
		"  simulator: " + side(d.Simulator) + "\n" +
		"  runtime:   " + side(d.Runtime)
}

// compare returns the first difference between the two runs' transitions,
// session by session (the order of different sessions' transitions at one
// instant is no part of the contract), or nil when they agree. Among the
// sessions that differ, the first difference is the earliest in virtual
// time, the lowest session at a tie.
func compare(simT, rtT [][]Transition, simLost, rtLost int) *Difference {
	var first *Difference
	at := func(d *Difference) int64 {
		if d.Simulator != nil && (d.Runtime == nil || d.Simulator.At <= d.Runtime.At) {
			return int64(d.Simulator.At)
		}
		return int64(d.Runtime.At)
	}
	for i := range max(len(simT), len(rtT)) {
		var a, b []Transition
		if i < len(simT) {
			a = simT[i]
		}
		if i < len(rtT) {
			b = rtT[i]
		}
		d := compareSession(i, a, b)
		if d != nil && (first == nil || at(d) < at(first)) {
			first = d
		}
	}
	if first == nil && simLost != rtLost {
		return &Difference{Session: -1, Index: -1, SimulatorLost: simLost, RuntimeLost: rtLost}
	}
	return first
}

// compareSession returns the first difference between session i's two
// sequences, or nil.
func compareSession(i int, a, b []Transition) *Difference {
	for k := range max(len(a), len(b)) {
		d := &Difference{Session: i, Index: k}
		if k < len(a) {
			d.Simulator = &a[k]
		}
		if k < len(b) {
			d.Runtime = &b[k]
		}
		if d.Simulator == nil || d.Runtime == nil || !agree(*d.Simulator, *d.Runtime) {
			return d
		}
	}
	return nil
}
