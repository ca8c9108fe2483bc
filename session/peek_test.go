package session

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/states"
)

// TestPeek: Peek gives what Token would return at once and the state Status
// reports, through an outage (a still-valid token served in backoff) to the
// expiry and the close, without the session's lock and without allocating.
func TestPeek(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 503}, 0)
		s, _ := newTestSession(t, fe, WithRefreshAhead(30*time.Minute))
		check := func(when string, wantState states.State, wantOK bool) {
			t.Helper()
			tok, state, ok := s.Peek()
			if st := s.Status(); state != st.State || state != wantState || ok != wantOK {
				t.Errorf("%s: Peek state %v ok %t; Status says %v; want %v, %t", when, state, ok, st.State, wantState, wantOK)
			}
			if want := map[bool]Secret{true: "tok-access-0"}[wantOK]; tok.Access != want {
				t.Errorf("%s: Peek token %q, want %q", when, tok.Access, want)
			}
		}
		check("fresh", states.Valid, true)
		s.mu.Lock() // Peek takes no lock: it would block forever here
		if _, _, ok := s.Peek(); !ok {
			t.Error("Peek under the session's lock: no token")
		}
		s.mu.Unlock()
		if n := testing.AllocsPerRun(100, func() { s.Peek() }); n != 0 {
			t.Errorf("Peek allocates %v times per call, want 0", n)
		}
		time.Sleep(31 * time.Minute) // past the refresh point: the refresh fails
		synctest.Wait()
		check("in backoff", states.Backoff, true)
		time.Sleep(30 * time.Minute) // past the expiry
		synctest.Wait()
		_, st, _ := s.Peek()
		check("expired", st, false)
		s.Close()
		check("closed", st, false)
	})
}
