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
func LogTimeline(name string, sessions int, duration time.Duration, entries []LogEntry) *Timeline {
	duration = max(duration, 1)
	tl := &Timeline{name: name, duration: duration, sessions: sessions, fromLog: true}
	if tl.fleet() {
		tl.step = max(duration/timelineBins, 1)
	}
	es := slices.Clone(entries)
	slices.SortStableFunc(es, func(a, b LogEntry) int { return cmp.Compare(a.At, b.At) })
	first := make(map[int]bool, sessions)
	for _, e := range es {
		if !first[e.Session] {
			first[e.Session] = true
			tl.counts[e.From]++
			if e.Session == 0 {
				tl.cur = e.From
			}
		}
	}
	var sent time.Duration
	for _, e := range es {
		at := min(max(e.At, 0), duration)
		tl.sampleUpTo(int64(at))
		tl.transition(uint32(e.Session), states.Transition{From: e.From, To: e.To, Event: e.Event, Cause: e.Cause}, int64(at))
		switch {
		case e.To == states.Refreshing:
			sent = at
		case e.From == states.Refreshing:
			if c, ok := answered(e); ok {
				tl.attempt(uint32(e.Session), int64(sent), int64(at), c)
			}
		}
	}
	if tl.fleet() {
		tl.sampleUpTo(int64(duration))
	} else if tl.spanStart < duration {
		tl.spans = append(tl.spans, span{tl.spanStart, duration, tl.cur})
	}
	return tl
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
