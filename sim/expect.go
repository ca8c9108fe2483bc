package sim

import (
	"strconv"
	"time"
)

// expectations checks the scenario's expectations against res, in the
// order docs/SCENARIOS.md lists them, then the invariants.
func expectations(sc *Scenario, res *Result, entered [numStates]bool) []Expectation {
	out := []Expectation{}
	e := sc.Expect
	if e.FinalState != nil {
		out = append(out, Expectation{Name: "final_state", Want: *e.FinalState, Got: res.FinalState, OK: *e.FinalState == res.FinalState})
	}
	if e.NeverStates != nil {
		want, got := []string{}, []string{}
		for _, st := range e.NeverStates {
			want = append(want, st.String())
			if entered[st] {
				got = append(got, st.String())
			}
		}
		out = append(out, Expectation{Name: "never_states", Want: want, Got: got, OK: len(got) == 0})
	}
	if e.MaxFailedRequests != nil {
		out = append(out, atMost("max_failed_requests", int64(*e.MaxFailedRequests), res.Stats.FailedRequests))
	}
	if e.MaxRefreshRequests != nil {
		out = append(out, atMost("max_refresh_requests", int64(*e.MaxRefreshRequests), res.Stats.RefreshRequests))
	}
	if e.MaxRecovery != nil {
		worst, never := worstRecovery(res.Recoveries)
		got := worst.String()
		if never {
			got = "never"
		}
		out = append(out, Expectation{Name: "max_recovery", Want: e.MaxRecovery.String(), Got: got, OK: !never && worst <= *e.MaxRecovery})
	}
	if e.MaxFamilyRevocations != nil {
		out = append(out, atMost("max_family_revocations", int64(*e.MaxFamilyRevocations), res.Stats.FamilyRevocations))
	}
	if len(res.Violations) > 0 {
		v := res.Violations[0]
		got := v.String()
		if n := len(res.Violations); n > 1 {
			got += " (and more)"
		}
		out = append(out, Expectation{Name: "invariants", Want: "none violated", Got: got, OK: false})
	}
	return out
}

func atMost(name string, want, got int64) Expectation {
	return Expectation{Name: name, Want: want, Got: got, OK: got <= want}
}

// worstRecovery returns the longest recovery, and whether some window was
// never recovered from.
func worstRecovery(rs []Recovery) (time.Duration, bool) {
	var worst time.Duration
	for _, r := range rs {
		if r.Never {
			return 0, true
		}
		worst = max(worst, r.After)
	}
	return worst, false
}

// Violation is a broken invariant of docs/DESIGN.md, found while running.
type Violation struct {
	At        time.Duration
	Session   int
	Invariant string
	Detail    string
}

// String describes the violation.
func (v Violation) String() string {
	return v.Invariant + ": session " + strconv.Itoa(v.Session) + " at " + v.At.String() + ": " + v.Detail
}

// invariants collects violations; it keeps the first few, which is what a
// reader needs, and bounds memory when a broken build violates millions.
type invariants struct{ list []Violation }

const keptViolations = 8

func (iv *invariants) violate(t int64, i uint32, invariant, detail string) {
	if len(iv.list) < keptViolations {
		iv.list = append(iv.list, Violation{At: time.Duration(t), Session: int(i), Invariant: invariant, Detail: detail})
	}
}
