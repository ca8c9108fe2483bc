package conform

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// Transition is one state change of one session, as conform compares it:
// the simulator's trace and the runtime's audit log are both audit records,
// and both come to this (fromRecord).
type Transition struct {
	// Session is the session's index in the fleet.
	Session int
	// At is the virtual time of the change: the offset from the start of
	// the run, on the server's clock.
	At       time.Duration
	From, To states.State
	Event    states.Event
	// Reason and Cause say why, as the audit record does.
	Reason  states.Reason
	Cause   string
	Attempt int
	// NextAt is when the next attempt is due (a failure) or the next
	// cycle starts (a postponement), in virtual time; NoNext when none.
	NextAt time.Duration
	// Generation is the token family's generation of the pair an adoption
	// installed (audit.Record.Generation); 0 otherwise.
	Generation uint64
	// Restarts counts the times a crash_holder fault restarted the
	// session's process before the transition: the transitions of each
	// restart's new session follow those of the crashed one.
	Restarts int
}

// NoNext is Transition.NextAt when no next attempt is due.
const NoNext = time.Duration(-1)

// String writes the transition on one line:
// "59m50s valid -refresh_ahead-> refreshing attempt 1 (refresh-ahead point reached)",
// with "[restarted N×]" after a restart. An adoption's cause names its
// generation.
func (t Transition) String() string {
	var b strings.Builder
	b.WriteString(t.At.String() + " " + t.From.String() + " -" + t.Event.String() + "-> " + t.To.String())
	if t.Attempt != 0 {
		b.WriteString(" attempt " + strconv.Itoa(t.Attempt))
	}
	if t.NextAt != NoNext {
		b.WriteString(" next " + t.NextAt.String())
	}
	if t.Cause != "" {
		b.WriteString(" (" + t.Cause + ")")
	}
	if t.Restarts != 0 {
		b.WriteString(" [restarted " + strconv.Itoa(t.Restarts) + "×]")
	}
	return b.String()
}

// fromRecord converts the audit record of session i's transition, whose
// times read on a clock skew ahead of the run's virtual clock, which
// starts at sim.Epoch: the runtime's records, on its sessions' clocks,
// and the simulator's trace, on the virtual clock itself (skew 0).
func fromRecord(i int, rec audit.Record, skew time.Duration) Transition {
	virtual := func(t time.Time) time.Duration { return t.Sub(sim.Epoch()) - skew }
	t := Transition{Session: i, At: virtual(rec.Time), From: rec.From, To: rec.To, Event: rec.Event, Reason: rec.Reason,
		Cause: rec.Cause, Attempt: rec.Attempt, NextAt: NoNext, Generation: rec.Generation, Restarts: rec.Restarts}
	if !rec.NextAt.IsZero() {
		t.NextAt = virtual(rec.NextAt)
	}
	return t
}

// MarshalJSON encodes the transition as `authfsm conform --json --trace`
// prints it: times as Go duration strings (offsets from the start of the
// run), next_at "" when none.
func (t Transition) MarshalJSON() ([]byte, error) {
	type entry struct {
		Session    int           `json:"session"`
		At         string        `json:"at"`
		From       states.State  `json:"from"`
		To         states.State  `json:"to"`
		Event      states.Event  `json:"event"`
		Reason     states.Reason `json:"reason,omitempty"`
		Cause      string        `json:"cause"`
		Generation uint64        `json:"generation,omitempty"`
		Attempt    int           `json:"attempt"`
		NextAt     string        `json:"next_at"`
		Restarts   int           `json:"restarts,omitempty"`
	}
	e := entry{Session: t.Session, At: t.At.String(), From: t.From, To: t.To, Event: t.Event, Reason: t.Reason, Cause: t.Cause,
		Generation: t.Generation, Attempt: t.Attempt, Restarts: t.Restarts}
	if t.NextAt != NoNext {
		e.NextAt = t.NextAt.String()
	}
	return json.Marshal(e)
}
