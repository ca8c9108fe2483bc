package sim

import (
	"math"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/states"
)

// culprits tracks, for each expectation of a fleet's run, the session that
// made it fail, so that a failing report shows that session's timeline
// rather than session 0's. Each is found as the run goes, at the moment the
// expectation broke (the call that went over max_failed_requests, the
// first entry into a never state), or at its end (final_state,
// max_recovery).
type culprits struct {
	// The limits the expectations set; MaxInt64 when not expected.
	failedLimit, refreshLimit, familyLimit int64
	never                                  uint8 // bit per never state
	// The sessions, or -1.
	failed, refresh, family, entered int32
	enteredState                     states.State
}

func (c *culprits) init(e *Expect) {
	limit := func(p *int) int64 {
		if p == nil {
			return math.MaxInt64
		}
		return int64(*p)
	}
	c.failedLimit, c.refreshLimit, c.familyLimit = limit(e.MaxFailedRequests), limit(e.MaxRefreshRequests), limit(e.MaxFamilyRevocations)
	for _, st := range e.NeverStates {
		c.never |= 1 << st
	}
	c.failed, c.refresh, c.family, c.entered = -1, -1, -1, -1
}

// enter notes that session i entered state st.
func (c *culprits) enter(i uint32, st states.State) {
	if c.never&(1<<st) != 0 && c.entered < 0 {
		c.entered, c.enteredState = int32(i), st
	}
}

// fail counts n failed calls of session i at t.
func (r *run) fail(i uint32, n, t int64) {
	r.stats.FailedRequests += n
	if r.tl != nil {
		r.tl.failed(i, t, n)
	}
	if r.blame.failed < 0 && r.stats.FailedRequests > r.blame.failedLimit {
		r.blame.failed = int32(i)
	}
}

// culprit returns the session to blame for the first failed expectation of
// res (the invariants first), and why; -1 when none failed.
func (r *run) culprit(res *Result) (int, string) {
	if len(res.Violations) > 0 {
		return res.Violations[0].Session, "broke an invariant"
	}
	for _, e := range res.Expectations {
		if e.OK {
			continue
		}
		switch e.Name {
		case "final_state":
			for i := range r.ss {
				if s := r.sess(uint32(i)); s.tokGen != 0 && s.d.State().String() != *r.sc.Expect.FinalState {
					return i, "ended " + s.d.State().String() + ", not " + *r.sc.Expect.FinalState
				}
			}
		case "never_states":
			if r.blame.entered >= 0 {
				return int(r.blame.entered), "the first to enter " + r.blame.enteredState.String()
			}
		case "max_failed_requests":
			if r.blame.failed >= 0 {
				return int(r.blame.failed), "its failed call went over max_failed_requests"
			}
		case "max_refresh_requests":
			if r.blame.refresh >= 0 {
				return int(r.blame.refresh), "its refresh request went over max_refresh_requests"
			}
		case "max_recovery":
			if i, why := r.rec.culprit(r); i >= 0 {
				return i, why
			}
		case "max_family_revocations":
			if r.blame.family >= 0 {
				return int(r.blame.family), "its family's revocation went over max_family_revocations"
			}
		}
	}
	return -1, ""
}

// culprit returns the session that recovered last, or never, from the
// window with the worst recovery, and why.
func (rc *recoveries) culprit(r *run) (int, string) {
	worst := -1
	for k := range rc.windows {
		w := &rc.windows[k]
		if w.pending > 0 {
			worst = k
			break
		}
		if worst < 0 || w.usableAt-w.end > rc.windows[worst].usableAt-rc.windows[worst].end {
			worst = k
		}
	}
	if worst < 0 {
		return -1, ""
	}
	w := &rc.windows[worst]
	end := time.Duration(w.end).String()
	switch {
	case w.never > 0:
		return int(w.revokedSess), "revoked before it recovered from the window ending " + end
	case w.pending > 0:
		for k, idx := range rc.ended {
			if idx != worst {
				continue
			}
			for i := range r.ss {
				if s := r.sess(uint32(i)); s.pendFirst >= 0 && int(s.pendFirst) <= k {
					return i, "never recovered from the window ending " + end
				}
			}
		}
		return -1, ""
	}
	return int(w.lastSess), "the last to recover from the window ending " + end + ", after " +
		time.Duration(w.usableAt-w.end).Round(time.Millisecond).String() + ", of " + strconv.Itoa(w.touched) + " it touched"
}
