// Package audit records why every state change of a session happened.
//
// A Record is one transition of the machine in package states, stamped with
// a sequence number, the session it belongs to and a fingerprint of the
// access token (never the token). The runtime's audit log and the
// simulator's trace use this one type.
package audit

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// Record is one audited transition.
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
	// Cause says why, without secrets: "502 Bad Gateway", "400 invalid_grant".
	Cause string `json:"cause,omitempty"`
	// Attempt is the refresh attempt number the transition concerns.
	Attempt int `json:"attempt,omitempty"`
	// NextAt is when the next attempt is due, or zero.
	NextAt time.Time `json:"next_at,omitzero"`
	// Token is a fingerprint of the access token current after the
	// transition (a hash prefix), or empty.
	Token string `json:"token,omitempty"`
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
	return Record{Time: t.At, From: t.From, To: t.To, Event: t.Event, Cause: t.Cause, Attempt: t.Attempt, NextAt: t.NextAt}
}
