package session

import (
	"context"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// TestCensus: the census counts open sessions per state and knows the
// earliest access-token expiry among them: from Opened, from a successful
// refresh, unknown after SetToken, and forgotten on Close.
func TestCensus(t *testing.T) {
	c := NewCensus()
	// Hooks are delivered outside the session's lock, maybe after the call
	// that caused them returned: seen receives each transition once the
	// census has taken it in (ChainHooks calls the census first).
	seen := make(chan audit.Record, 64)
	hooks := ChainHooks(c.Hooks(), Hooks{Transition: func(r audit.Record) { seen <- r }})
	waitFor := func(id string, ev states.Event) {
		t.Helper()
		for r := range seen {
			if r.Session == id && r.Event == ev {
				return
			}
		}
	}
	now := time.Now()
	open := func(id string, expiry time.Time) *Session {
		t.Helper()
		fe := newFakeEndpoint(time.Hour) // each its own server, whose first pair it holds
		s, err := New(context.Background(), testClient(t, fe, Endpoint{}),
			Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: now.Add(-time.Hour), Expiry: expiry},
			WithID(id), WithHooks(hooks))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(step string, valid, expired int64, earliest time.Time) {
		t.Helper()
		counts, got := c.Snapshot()
		if counts[states.Valid] != valid || counts[states.Expired] != expired || !got.Equal(earliest) {
			t.Errorf("%s: valid %d expired %d earliest %v, want %d, %d and %v", step, counts[states.Valid], counts[states.Expired], got, valid, expired, earliest)
		}
	}
	a := open("a", now.Add(2*time.Hour))
	b := open("b", now.Add(90*time.Minute))
	check("two open", 2, 0, now.Add(90*time.Minute))

	stale := open("c", now.Add(-time.Minute)) // expired: refreshed on demand
	if _, err := stale.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor("c", states.Succeed)
	if _, exp := c.Snapshot(); !exp.After(now.Add(50 * time.Minute)) {
		t.Errorf("after c's refresh the earliest expiry is %v, want b's or c's new one", exp)
	}
	check("c refreshed", 3, 0, earliestOf(now.Add(90*time.Minute), stale))

	if err := b.SetToken(context.Background(), Token{Access: "tok-access-b2", Refresh: "tok-refresh-b2", Expiry: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	waitFor("b", states.SetToken)
	check("b's pair set from outside: its expiry unknown", 3, 0, earliestOf(now.Add(2*time.Hour), stale))

	for _, s := range []*Session{a, b, stale} {
		s.Close()
	}
	check("all closed", 0, 0, time.Time{})
}

// earliestOf is the earlier of at and s's token expiry.
func earliestOf(at time.Time, s *Session) time.Time {
	if exp := s.Status().Expiry; exp.Before(at) {
		return exp
	}
	return at
}
