package ops

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// TestCensus: the census counts open sessions per state and knows the
// earliest access-token expiry among them: from Opened, from a successful
// refresh, from SetToken, and forgotten on Close.
func TestCensus(t *testing.T) {
	c := NewCensus()
	// Hooks are delivered outside the session's lock, maybe after the call
	// that caused them returned, and a new token's TokenInstalled after its
	// transition: installed receives each new token once the census has
	// taken it in (hooks.Chain calls the census first).
	installed := make(chan hooks.TokenInstalled, 64)
	hk := hooks.Chain(c.Hooks(), hooks.Hooks{TokenInstalled: func(ti hooks.TokenInstalled) { installed <- ti }})
	waitFor := func(id string, ev states.Event) {
		t.Helper()
		for ti := range installed {
			if ti.Session == id && ti.Event == ev {
				return
			}
		}
	}
	now := time.Now()
	open := func(id string, expiry time.Time) *session.Session {
		t.Helper()
		is := &issuer{ttl: time.Hour} // each its own server, whose first pair it holds
		s, err := session.New(context.Background(), is,
			session.Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: now.Add(-time.Hour), Expiry: expiry},
			session.WithID(id), session.WithHooks(hk))
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

	if err := b.SetToken(context.Background(), session.Token{Access: "tok-access-b2", Refresh: "tok-refresh-b2", Expiry: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	waitFor("b", states.SetToken)
	check("b's pair set from outside", 3, 0, now.Add(10*time.Minute))

	for _, s := range []*session.Session{a, b, stale} {
		s.Close()
	}
	check("all closed", 0, 0, time.Time{})
}

// earliestOf is the earlier of at and s's token expiry.
func earliestOf(at time.Time, s *session.Session) time.Time {
	if exp := s.Status().Expiry; exp.Before(at) {
		return exp
	}
	return at
}

// TestCensusSharedFamily: two processes of one token family, each with its
// own census (its own /metrics), share a FileCoordinator. One refreshes
// ahead of expiry and publishes; the other adopts the published pair when
// its own token expires. Both censuses report the expiry of the token their
// process holds — the adopting one too — and a re-login by SetToken is
// reported as well.
func TestCensusSharedFamily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := &issuer{ttl: 2 * time.Hour} // a refreshes once in this test
		path := filepath.Join(t.TempDir(), "family.json")
		start := time.Now()
		initial := session.Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
		open := func(id string, c *Census, opts ...session.Option) *session.Session {
			t.Helper()
			opts = append(opts, session.WithID(id), session.WithHooks(c.Hooks()), session.WithCoordinator(&session.FileCoordinator{Path: path}))
			s, err := session.New(context.Background(), is, initial, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		ca, cb := NewCensus(), NewCensus()
		a := open("a", ca, session.WithRefreshAhead(30*time.Minute)) // refreshes at half its token's lifetime
		b := open("b", cb, session.WithRefreshAhead(0))              // adopts once its own token expires
		defer a.Close()
		defer b.Close()
		check := func(step, name string, c *Census, s *session.Session) {
			t.Helper()
			counts, got := c.Snapshot()
			want := s.Status().Expiry
			if want.IsZero() || !got.Equal(want) || counts[states.Valid] != 1 {
				t.Errorf("%s: process %s's census reports expiry %v (valid %d), want %v (valid 1)", step, name, got, counts[states.Valid], want)
			}
		}

		time.Sleep(31 * time.Minute) // a refreshes and publishes generation 1
		synctest.Wait()
		if n := is.requests(); n != 1 || a.Status().Generation != 1 {
			t.Fatalf("%d token requests, a at generation %d; want a's one refresh", n, a.Status().Generation)
		}
		check("a refreshed", "a", ca, a)
		check("a refreshed", "b", cb, b)

		time.Sleep(30 * time.Minute) // b's token expires: it adopts a's pair
		synctest.Wait()
		if n := is.requests(); n != 1 || b.Status().Generation != 1 {
			t.Fatalf("%d token requests, b at generation %d; want b to adopt a's pair", n, b.Status().Generation)
		}
		check("b adopted", "a", ca, a)
		check("b adopted", "b", cb, b)

		relogin := session.Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(10 * time.Minute)}
		if err := b.SetToken(context.Background(), relogin); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		check("b set a token", "b", cb, b)
		if _, got := cb.Snapshot(); !got.Equal(relogin.Expiry) {
			t.Errorf("after SetToken b's census reports %v, want the new token's expiry %v", got, relogin.Expiry)
		}
	})
}
