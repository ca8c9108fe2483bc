package sim

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// LogEntry is one transition read from a log: a record of a runtime audit
// log, or an entry of a simulator trace.
type LogEntry struct {
	// At is the transition's time, from the origin the picture starts at.
	At time.Duration
	// Session numbers the log's sessions from 0, in any order.
	Session  int
	From, To states.State
	Event    states.Event
	Cause    string
}

// LogTimeline builds the model TimelineSVG draws from the transitions of a
// log of sessions sessions over duration, as a run builds it from its
// own: for one session its spans in each state and its refresh attempts,
// for several the number of sessions in each state, sampled over time. A
// log does not say how long a session was in the state its first record
// leaves, so each session counts in that state from the start; a session
// without records is not counted. Nor does a log say when a token was
// usable, which calls failed or when faults began: the picture leaves
// those rows out (Timeline.Log). Entries are taken in time order, ties in
// the order given; a time outside [0, duration] is clamped to it.
//
// An attempt is drawn from each transition out of refreshing that
// answers a request: succeed (ok), deny (permanent), and fail, give_up
// or postpone with a 429 (rate-limited) or another cause (transient).
// Those that sent nothing (throttled, the shared store down or the lease
// lost, a crashed holder's spent token) are not drawn, as a run does not
// draw them.
//
// LogTimeline holds entries in memory; a LogBuilder takes them one at a
// time, in memory that does not grow with their number.
func LogTimeline(name string, sessions int, duration time.Duration, entries []LogEntry) *Timeline {
	es := slices.Clone(entries)
	slices.SortStableFunc(es, func(a, b LogEntry) int { return cmp.Compare(a.At, b.At) })
	b := NewLogBuilder(name, sessions, duration)
	for _, e := range es {
		b.Add(e)
	}
	return b.Timeline()
}

// answered reports whether e, a transition out of refreshing, is the
// answer to a request, and its class.
func answered(e LogEntry) (policy.Class, bool) {
	for _, unsent := range []string{policy.ThrottledCause, causeStoreDown, "refresh lease lost", states.CrashedHolderCause} {
		if strings.HasPrefix(e.Cause, unsent) {
			return 0, false
		}
	}
	switch e.Event {
	case states.Succeed:
		return policy.OK, true
	case states.Deny:
		return policy.Permanent, true
	case states.Fail, states.GiveUp, states.Postpone:
		if strings.HasPrefix(e.Cause, "429") {
			return policy.RateLimited, true
		}
		if strings.HasSuffix(e.Cause, " invalid_request") {
			return policy.Suspect, true // policy.Classify's cause of a retried invalid_request
		}
		return policy.Transient, true
	}
	return 0, false
}
