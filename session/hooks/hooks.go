// Package hooks holds what a session tells its observers, in the manner
// of net/http/httptrace: the Hooks a session calls (session.WithHooks)
// and the events they receive. It knows nothing of the session itself, so
// a metrics adapter, a census (package session/ops) or an application's
// own hooks depend on these types alone.
package hooks

import (
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Hooks observe a session, in the manner of net/http/httptrace: every field
// is optional, and fields added later break nobody. A session calls its
// hooks outside its lock, one at a time and in the order things happened
// (the same queue as its audit records and log lines), never on Token's
// fast path; a hook may therefore call the session (Status, Token). Hooks
// see fingerprints, never tokens or secrets. A slow hook delays the
// delivery of later hooks and records, not the session.
//
// A hook that panics does not stop the session or its delivery, and the
// same holds for the audit sink (session.WithAudit) and the logger (session.WithLogger): the
// panic is recovered, logged at error level as "session: a hook panicked"
// (or "the audit sink", "the logger") with its value, cleaned of the
// access token and cut to 1,000 characters, and its stack, counted in
// session.Status.Panics, and the next record, hook call and log line are delivered
// as usual. It is not propagated: hooks run on whichever goroutine
// happens to deliver (a caller of Token, the session's timer, one the
// refresh starts so as never to wait for a hook itself, Shutdown), so a
// panic would crash the program or not by chance.
//
// While a hook or the sink blocks, the queue grows. Once 1,024 notes wait,
// new log lines and calls of RequestStart, RequestDone, StoreError and
// Throttled are dropped, counted in session.Status.Dropped and reported by one
// warning when delivery catches up. Audit records (and their Transition
// calls), Opened and Closed are never dropped.
type Hooks struct {
	// Opened is called once the session exists, with its initial state.
	Opened func(SessionInfo)
	// Closed is called when the session has shut down, with its last state.
	Closed func(SessionInfo)
	// Transition is called with the audit record of every state change.
	Transition func(audit.Record)
	// TokenInstalled is called when a new access token becomes the
	// session's current one — a successful refresh, a pair adopted from
	// the family (another process refreshed, see session.WithCoordinator), or
	// Session.SetToken — right after the Transition of that change, with the
	// token's expiry, which the audit record does not carry.
	TokenInstalled func(TokenInstalled)
	// RequestStart is called as a refresh request is sent.
	RequestStart func(RequestStart)
	// RequestDone is called when a refresh request has ended.
	RequestDone func(RequestDone)
	// StoreError is called when saving or publishing the token pair failed,
	// or the family's coordinator could not be reached.
	StoreError func(StoreError)
	// Throttled is called when the shared throttle kept an attempt from
	// being sent (see session.WithThrottle).
	Throttled func(Throttled)
}

// SessionInfo identifies a session and its state, for Hooks.Opened and
// Hooks.Closed.
type SessionInfo struct {
	// Session is the session's id (session.WithID).
	Session string
	// State is its state.
	State states.State
	// Expiry is its access token's expiry; zero for none.
	Expiry time.Time
}

// TokenInstalled describes a new current access token, for
// Hooks.TokenInstalled.
type TokenInstalled struct {
	Session string
	// Event is how it came: states.Succeed (a refresh), states.Adopt (a
	// pair another process published) or states.SetToken.
	Event states.Event
	// Expiry is when it expires, on the session's clock: the instant until
	// which the session serves it.
	Expiry time.Time
	// Token is its fingerprint (audit.Fingerprint), as in the audit record.
	Token string
	At    time.Time
}

// RequestStart describes a refresh request about to be sent.
type RequestStart struct {
	Session string
	// Attempt is the attempt's number in its refresh cycle.
	Attempt int
	// Fallback reports that the request uses the fallback grant.
	Fallback bool
	At       time.Time
}

// RequestDone describes how a refresh request ended.
type RequestDone struct {
	Session  string
	Attempt  int
	Fallback bool
	// Duration is how long the request took, fallback included.
	Duration time.Duration
	// Status is the HTTP status, 0 when no answer arrived (or the
	// Refresher did not say).
	Status int
	// Code is the OAuth2 error code of a refusal, if any.
	Code string
	// Class is the outcome's classification; Cause says what failed.
	Class policy.Class
	Cause string
	// Expiry is the new token's expiry when Class is policy.OK.
	Expiry time.Time
	// Token is the new access token's fingerprint when Class is policy.OK.
	Token string
	At    time.Time
}

// StoreError describes a failure of the token store or of the family's
// coordinator.
type StoreError struct {
	Session string
	// Op is what failed: "save" (to a Store), "publish" (to a
	// Coordinator), "coordinate" (the family's protocol before a
	// refresh), "wait" (watching another holder's lease), "reread"
	// (reading the store again after the refresh token was refused).
	Op  string
	Err error
	At  time.Time
}

// Throttled describes an attempt the shared throttle kept from being sent.
type Throttled struct {
	Session string
	Attempt int
	At      time.Time
}

// Chain returns hooks that call each of hs in turn, in the order given,
// for every event; a nil field is skipped. It installs, say, a metrics
// adapter's hooks beside the application's own:
//
//	session.WithHooks(hooks.Chain(metrics.Hooks(), myHooks))
func Chain(hs ...Hooks) Hooks {
	var c Hooks
	for _, h := range hs {
		c.Opened = chain(c.Opened, h.Opened)
		c.Closed = chain(c.Closed, h.Closed)
		c.Transition = chain(c.Transition, h.Transition)
		c.TokenInstalled = chain(c.TokenInstalled, h.TokenInstalled)
		c.RequestStart = chain(c.RequestStart, h.RequestStart)
		c.RequestDone = chain(c.RequestDone, h.RequestDone)
		c.StoreError = chain(c.StoreError, h.StoreError)
		c.Throttled = chain(c.Throttled, h.Throttled)
	}
	return c
}

// chain returns a function calling a then b, either of which may be nil.
func chain[T any](a, b func(T)) func(T) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(v T) { a(v); b(v) }
}
