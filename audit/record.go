package audit

import (
	"encoding/json"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Record is one audited transition, or a note about the log itself (see
// Note).
type Record struct {
	// Seq numbers the records of one log from 1, without gaps.
	Seq uint64 `json:"seq"`
	// Time is when the transition happened, on the session's clock.
	Time time.Time `json:"time"`
	// Session identifies the session within the log.
	Session string       `json:"session,omitempty"`
	From    states.State `json:"from"`
	To      states.State `json:"to"`
	Event   states.Event `json:"event"`
	// Cause says why, without secrets: "502 Bad Gateway", "400 invalid_grant"
	// (states.Transition.Cause). Records written before Reason existed
	// carry only this.
	Cause string `json:"cause,omitempty"`
	// Reason is why, as a typed value (states.Reason); absent (ReasonNone)
	// for a success and in records written before it existed.
	Reason states.Reason `json:"reason,omitempty"`
	// Sent reports that the transition ends an attempt whose request was
	// sent (or tried); Class is then the class of its outcome as the
	// machine took it, "ok" when absent. Tools read these instead of the
	// words of Cause.
	Sent  bool         `json:"sent,omitempty"`
	Class policy.Class `json:"class,omitempty"`
	// Generation is the token family's generation of the pair an adoption
	// installed (states.Transition.Generation); absent otherwise.
	Generation uint64 `json:"generation,omitempty"`
	// Attempt is the refresh attempt number the transition concerns.
	Attempt int `json:"attempt,omitempty"`
	// NextAt is when the next attempt is due, or zero.
	NextAt time.Time `json:"next_at,omitzero"`
	// Restarts counts the times the session's process restarted before
	// the transition, when the log's writer knows it (the simulator's
	// trace: a crash_holder fault restarts a process); absent (0) in the
	// process's first life and in a runtime's log. A restarted process
	// starts a new session under the same name, whose first record need
	// not follow on the last one before the restart (see Conform).
	Restarts int `json:"restarts,omitempty"`
	// Token is a fingerprint of the access token current after the
	// transition (a hash prefix), or empty.
	Token string `json:"token,omitempty"`
	// Note, when not empty, makes the record a note about the log rather
	// than a transition: "audit log repaired: …", written by Repair. A note
	// is encoded with Seq, Time, Session, Note, Prev and Hash only; the
	// transition fields are zero when one is decoded, and mean nothing.
	Note string `json:"note,omitempty"`
	// Prev is the hash of the previous record in a hash-chained log (see
	// ChainWriter); empty for the first record and outside a chain.
	Prev string `json:"prev,omitempty"`
	// Hash is this record's own chain hash, set by ChainWriter; empty
	// outside a chain.
	Hash string `json:"hash,omitempty"`
}

// FromTransition returns the record of t, with Seq, Session and Token left
// for the caller to fill in.
func FromTransition(t states.Transition) Record {
	return Record{Time: t.At, From: t.From, To: t.To, Event: t.Event, Cause: t.Cause(), Reason: t.Reason,
		Sent: t.Sent, Class: t.Class, Generation: t.Generation, Attempt: t.Attempt, NextAt: t.NextAt}
}

// transition is Record without its methods, for encoding/json.
type transition Record

// note is the encoding of a note record: the transition fields are left out
// because zero values would read as a transition ("from":"valid" …).
type note struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Session string    `json:"session,omitempty"`
	Note    string    `json:"note"`
	Prev    string    `json:"prev,omitempty"`
	Hash    string    `json:"hash,omitempty"`
}

// MarshalJSON implements json.Marshaler: a transition as its fields are
// tagged, a note (see Note) without the transition fields.
func (r Record) MarshalJSON() ([]byte, error) {
	if r.Note == "" {
		return json.Marshal(transition(r))
	}
	return json.Marshal(note{Seq: r.Seq, Time: r.Time, Session: r.Session, Note: r.Note, Prev: r.Prev, Hash: r.Hash})
}
