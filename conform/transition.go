package conform

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// Transition is one state change of one session, as conform compares it:
// the simulator's trace entry and the runtime's audit record both come to
// this.
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

// fromTrace converts one entry of the simulator's trace.
func fromTrace(e sim.TraceEntry) (Transition, error) {
	at, err := time.ParseDuration(e.At)
	if err != nil {
		return Transition{}, err
	}
	t := Transition{Session: e.Session, At: at, From: e.From, To: e.To, Event: e.Event, Reason: e.Reason, Cause: e.Cause,
		Attempt: e.Attempt, NextAt: NoNext, Generation: e.Generation, Restarts: e.Restarts}
	if e.NextAt != "" {
		if t.NextAt, err = time.ParseDuration(e.NextAt); err != nil {
			return Transition{}, err
		}
	}
	return t, nil
}

// MarshalJSON encodes the transition as the simulator's trace does
// (docs/SCENARIOS.md): times as Go duration strings, next_at "" when none.
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
