// Package states declares the auth session's finite-state machine and the
// pure decision function that drives it.
//
// The states and their legal transitions are written once, as a
// github.com/looplab/fsm event table (Table). At init the table is validated
// and compiled into a dense array, which is what Machine.Step consults on the
// hot path. The runtime (session/), the simulator (sim/) and the diagrams all
// read this one table.
//
// Machine is pure in the manner of etcd-io/raft: the caller feeds it the
// session's Data, an Input and the current instant, and performs the Effects
// it returns (start a refresh request, arm a timer, record transitions).
package states

import (
	"fmt"
	"strconv"

	"github.com/looplab/fsm"
)

// State is a session state.
type State uint8

// The session states. Their String forms are the names used in the table,
// audit records, scenario expectations and simulation results.
const (
	// Valid: the session holds an access token that has not expired and no
	// refresh is under way.
	Valid State = iota
	// Expired: the access token has expired or was rejected, and no refresh
	// is in flight or scheduled. The next demand starts a refresh cycle,
	// unless there is nothing to refresh with (NoToken): the session then
	// waits for a pair from outside (Data.AwaitsPair).
	Expired
	// Refreshing: one refresh request is in flight.
	Refreshing
	// Backoff: the last attempt failed transiently; the next one is scheduled.
	// The access token may still be valid and is served while it is.
	Backoff
	// Waiting: another process of the token family holds the refresh lease
	// (see session.Coordinator). The session serves a still-valid token,
	// adopts the pair the holder publishes, and takes over when the lease
	// lapses without one.
	Waiting
	// Revoked: the authorization server refused the grant, or the session
	// was revoked. Only a new token from outside (re-login) leaves it.
	Revoked
	// NeedsLogin: a session with a login method (Config.Login) has nothing
	// it may refresh with — it never had a token, the authorization server
	// refused its grant, or its family was logged out — and waits for a
	// login: its own (LoginOwn, started by the next demand) or one from
	// outside (SetToken, or a pair another process of its family publishes:
	// authfsm login). It serves nothing and sends nothing meanwhile. It is
	// not Revoked: a login is the way back, and the session says so.
	NeedsLogin
	// LoggingIn: the session's own login (LoginOwn) is under way: a device
	// code shown, a browser opened. Callers wait for it as for a refresh.
	LoggingIn

	numStates
)

// Event is a transition label of the table.
type Event uint8

// The events of the table.
const (
	// RefreshAhead: the refresh-ahead point was reached while the token is valid.
	RefreshAhead Event = iota
	// Expire: the access token's expiry passed.
	Expire
	// Reject: a resource server refused the current access token (401).
	Reject
	// Refresh: a refresh cycle started from Expired.
	Refresh
	// Succeed: the refresh returned a usable token.
	Succeed
	// Fail: the refresh failed transiently; a retry is scheduled. From Valid
	// it is the late failure of a token on probation (see Data.Probation):
	// rejected moments after it was issued, or dead within MinLifetime.
	Fail
	// Deny: the refresh failed permanently (the server refused the grant).
	Deny
	// Retry: the scheduled retry is due.
	Retry
	// GiveUp: the policy ended the cycle and the token is not usable (from
	// Valid: after the late failure of a token on probation).
	GiveUp
	// Postpone: the policy ended a refresh-ahead cycle while the token is still
	// valid; the next cycle starts at expiry.
	Postpone
	// Revoke: the session was revoked explicitly.
	Revoke
	// SetToken: a new token was supplied from outside (a re-login).
	SetToken
	// Adopt: a newer pair, published by another process of the token
	// family, was installed.
	Adopt
	// Wait: another process holds the family's refresh lease.
	Wait
	// TakeOver: the lease lapsed without a new pair; this process refreshes.
	TakeOver
	// NoToken: the attempt had nothing to present — no refresh token, and
	// no fallback grant — so the session waits in Expired for a pair from
	// outside (SetToken, or the first pair another process of its family
	// publishes) and starts no cycle meanwhile. It is not a revocation.
	NoToken
	// NeedLogin: a session with a login method (Config.Login) has nothing
	// it may refresh with — no token yet, a final refusal of its grant, a
	// vanished holder that may have spent it, or its family logged out by
	// another process — and needs a login (NeedsLogin).
	NeedLogin
	// Login: the session's own login started (LoginOwn, on demand).
	Login
	// LoginFail: the session's own login ended without a pair (denied,
	// expired, timed out); the next demand starts another.
	LoginFail
	// LoggedIn: the session's own login obtained a pair, which is
	// installed and saved or published as the family's next generation.
	LoggedIn

	numEvents
)

// InitialState is the state a session holding a fresh token starts in. A
// session without a token starts in Expired (see NewData) and refreshes on
// its first demand.
const InitialState = Valid

var stateNames = [numStates]string{
	Valid: "valid", Expired: "expired", Refreshing: "refreshing", Backoff: "backoff", Waiting: "waiting", Revoked: "revoked",
	NeedsLogin: "needs_login", LoggingIn: "logging_in",
}

var eventNames = [numEvents]string{
	RefreshAhead: "refresh_ahead", Expire: "expire", Reject: "reject", Refresh: "refresh",
	Succeed: "succeed", Fail: "fail", Deny: "deny", Retry: "retry", GiveUp: "give_up",
	Postpone: "postpone", Revoke: "revoke", SetToken: "set_token", Adopt: "adopt", Wait: "wait", TakeOver: "take_over",
	NoToken: "no_token", NeedLogin: "need_login", Login: "login", LoginFail: "login_failed", LoggedIn: "logged_in",
}

// Table is the machine's only definition. Each entry names an event, the
// states it may fire in and the state it leads to.
var Table = fsm.Events{
	{Name: "refresh_ahead", Src: []string{"valid"}, Dst: "refreshing"},
	{Name: "expire", Src: []string{"valid"}, Dst: "expired"},
	{Name: "reject", Src: []string{"valid"}, Dst: "expired"},
	{Name: "refresh", Src: []string{"expired"}, Dst: "refreshing"},
	{Name: "succeed", Src: []string{"refreshing"}, Dst: "valid"},
	{Name: "fail", Src: []string{"refreshing", "valid"}, Dst: "backoff"},
	{Name: "deny", Src: []string{"refreshing"}, Dst: "revoked"},
	{Name: "retry", Src: []string{"backoff"}, Dst: "refreshing"},
	{Name: "give_up", Src: []string{"refreshing", "valid"}, Dst: "expired"},
	{Name: "postpone", Src: []string{"refreshing"}, Dst: "valid"},
	{Name: "revoke", Src: []string{"valid", "expired", "refreshing", "backoff", "waiting", "needs_login", "logging_in"}, Dst: "revoked"},
	{Name: "set_token", Src: []string{"valid", "expired", "refreshing", "backoff", "waiting", "revoked", "needs_login", "logging_in"}, Dst: "valid"},
	{Name: "adopt", Src: []string{"valid", "expired", "refreshing", "backoff", "waiting", "revoked", "needs_login", "logging_in"}, Dst: "valid"},
	{Name: "wait", Src: []string{"refreshing"}, Dst: "waiting"},
	{Name: "take_over", Src: []string{"waiting"}, Dst: "refreshing"},
	{Name: "no_token", Src: []string{"refreshing"}, Dst: "expired"},
	{Name: "need_login", Src: []string{"valid", "expired", "refreshing", "backoff", "waiting"}, Dst: "needs_login"},
	{Name: "login", Src: []string{"needs_login"}, Dst: "logging_in"},
	{Name: "login_failed", Src: []string{"logging_in"}, Dst: "needs_login"},
	{Name: "logged_in", Src: []string{"logging_in"}, Dst: "valid"},
}

// none marks an illegal (state, event) pair in the compiled table.
const none State = 0xff

// compiled[e][s] is the destination of event e in state s, or none.
var compiled = mustCompile(Table)

// String returns the state's lower-case name.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// ParseState returns the state named name.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return none, fmt.Errorf("states: unknown state %q", name)
}

// States returns every state, in declaration order.
func States() []State {
	s := make([]State, numStates)
	for i := range s {
		s[i] = State(i)
	}
	return s
}

func eventByName(name string) (Event, bool) {
	for i, n := range eventNames {
		if n == name {
			return Event(i), true
		}
	}
	return 0, false
}

// String returns the event's name as written in the table.
func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "event(" + strconv.Itoa(int(e)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (e Event) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that a record
// holding an Event decodes from the JSON it encodes to.
func (e *Event) UnmarshalText(b []byte) error {
	v, err := ParseEvent(string(b))
	if err == nil {
		*e = v
	}
	return err
}

// ParseEvent returns the event named name, as written in the table.
func ParseEvent(name string) (Event, error) {
	if e, ok := eventByName(name); ok {
		return e, nil
	}
	return 0, fmt.Errorf("states: unknown event %q", name)
}

// Can reports whether the table allows event e in state s.
func Can(s State, e Event) bool { return s < numStates && e < numEvents && compiled[e][s] != none }

// Next returns the destination of event e in state s, and false when the
// table does not allow e in s.
func Next(s State, e Event) (State, bool) {
	if !Can(s, e) {
		return s, false
	}
	return compiled[e][s], true
}

func mustCompile(t fsm.Events) *[numEvents][numStates]State {
	c, err := compile(t)
	if err != nil {
		panic(err) // the table is a constant of this package; a test covers it
	}
	return c
}

// compile validates the table and turns it into a dense lookup. It checks
// that every name is known, that no (event, state) pair is declared twice,
// that every event and every state is used, and that every state is
// reachable from InitialState.
func compile(t fsm.Events) (*[numEvents][numStates]State, error) {
	var c [numEvents][numStates]State
	for e := range c {
		for s := range c[e] {
			c[e][s] = none
		}
	}
	seen := map[Event]bool{}
	for _, d := range t {
		e, ok := eventByName(d.Name)
		if !ok {
			return nil, fmt.Errorf("states: table names unknown event %q", d.Name)
		}
		dst, err := ParseState(d.Dst)
		if err != nil {
			return nil, fmt.Errorf("states: event %q leads nowhere: %w", d.Name, err)
		}
		if len(d.Src) == 0 {
			return nil, fmt.Errorf("states: event %q has no source state", d.Name)
		}
		for _, name := range d.Src {
			src, err := ParseState(name)
			if err != nil {
				return nil, fmt.Errorf("states: event %q: %w", d.Name, err)
			}
			if c[e][src] != none {
				return nil, fmt.Errorf("states: event %q declared twice from %q", d.Name, name)
			}
			c[e][src] = dst
		}
		seen[e] = true
	}
	for e := range numEvents {
		if !seen[e] {
			return nil, fmt.Errorf("states: event %q is not in the table", e)
		}
	}
	reached := [numStates]bool{InitialState: true}
	for changed := true; changed; {
		changed = false
		for e := range numEvents {
			for s := range numStates {
				if d := c[e][s]; reached[s] && d != none && !reached[d] {
					reached[d], changed = true, true
				}
			}
		}
	}
	for s, ok := range reached {
		if !ok {
			return nil, fmt.Errorf("states: state %q is unreachable from %q", State(s), InitialState)
		}
	}
	// looplab/fsm must accept the table as well: it is the declaration that
	// diagrams and users' tooling read.
	f := fsm.NewFSM(InitialState.String(), t, nil)
	if f.Current() != InitialState.String() {
		return nil, fmt.Errorf("states: looplab/fsm rejected the table")
	}
	return &c, nil
}
