package session

import (
	"context"
	"fmt"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// Status is a snapshot of a session, for health endpoints and metrics.
type Status struct {
	// State is the machine's state.
	State states.State
	// TokenValid reports whether an access token may be served now.
	TokenValid bool
	// Issued and Expiry bound the current access token's life.
	Issued, Expiry time.Time
	// Attempt is the current or last attempt number of the refresh cycle.
	Attempt int
	// Cause is why the last attempt failed or the session was revoked.
	Cause string
	// NextAt is the next scheduled wake-up (refresh point, retry, expiry).
	NextAt time.Time
	// Token is the access token's fingerprint (audit.Fingerprint).
	Token string
	// LastError is the error a caller without a usable token would get now:
	// the last refresh failure (a *RefreshError), the revocation (a
	// *RevokedError) or the login the session needs (a
	// *LoginRequiredError); nil while the session is healthy.
	LastError error
	// Generation is the token family's generation of the pair held, with a
	// Coordinator or a FileStore (0 without one, or before the first
	// publish).
	Generation uint64
	// StoreError is the last failure to save the token pair to the store
	// (or to reach the family's coordinator), or nil once a save
	// succeeded. An operation that waited too long for the store (the
	// request timeout) or for its lock file (ErrLocked) counts as a
	// failure. While it is set, the session keeps retrying the save; a pair
	// that is never saved is lost at the next restart.
	StoreError error
	// Panics counts the calls of a hook, of the audit sink and of the
	// logger that panicked. Each panic is recovered and logged at error
	// level with its stack; the delivery of later records, hook calls and
	// log lines goes on (see hooks.Hooks).
	Panics uint64
	// Dropped counts the log lines and hook calls dropped because the
	// session's outbox was full: a hook or the sink blocked until 1,024
	// notes waited. Audit records, Opened and Closed are never
	// dropped (see hooks.Hooks).
	Dropped uint64
}

// Status returns a snapshot of the session. It never waits for I/O: a
// store or a lock file that hangs shows in StoreError, not as a Status
// call that hangs.
func (s *Session) Status() Status {
	s.mu.Lock()
	d := &s.data
	now := s.cfg.clock.Now()
	st := Status{State: d.State(), TokenValid: d.Usable(now), Issued: d.Issued(), Expiry: d.Expiry(),
		Attempt: d.Attempt(), Cause: d.Cause(), NextAt: d.NextAt(), Token: audit.Fingerprint(string(s.tok.Access)),
		Generation: d.Generation()}
	switch {
	case d.State() == states.Revoked:
		st.LastError = s.revokedErrorLocked(now)
	case d.State() == states.NeedsLogin:
		st.LastError = s.loginRequiredLocked(now)
	case s.last.err != nil:
		st.LastError = s.refreshErrorLocked(now)
	}
	s.mu.Unlock()
	st.StoreError = s.storeError()
	st.Panics, st.Dropped = s.out.panics.Load(), s.out.dropped.Load()
	return st
}

// Peek returns what Token's fast path holds, without lock, allocation or
// wait: the access token Token would return now without a refresh or a
// wait (ok false when there is none: Token would refresh, wait or fail),
// and the session's state after its last transition (for a token served:
// Valid, or Backoff, Refreshing or Waiting while a still-valid token is
// served). Unlike Status it computes no fingerprint and takes no lock.
func (s *Session) Peek() (tok Token, state states.State, ok bool) {
	p := s.snap.Load()
	if s.cfg.clock.Now().Before(p.until) {
		return p.tok, p.state, true
	}
	return Token{}, p.state, false
}

// waitError explains why a caller's wait ended without a token.
func (s *Session) waitError(ctx context.Context) error {
	s.mu.Lock()
	var rerr error
	if s.last.err != nil {
		rerr = s.refreshErrorLocked(s.cfg.clock.Now())
	}
	s.mu.Unlock()
	if rerr == nil {
		return fmt.Errorf("session: no usable token before the caller's context ended: %w", ctx.Err())
	}
	return fmt.Errorf("session: no usable token before the caller's context ended: %w; last refresh: %w", ctx.Err(), rerr)
}

// revokedErrorLocked explains why the session is revoked, with the
// refusing answer when the server refused.
func (s *Session) revokedErrorLocked(now time.Time) *RevokedError {
	e := &RevokedError{Cause: s.data.Cause(), At: now, Misconfigured: s.last.misconfigured}
	if ee := s.last.endpoint; ee != nil {
		e.URL, e.Status, e.Code, e.Description, e.ErrorURI = ee.URL, ee.Status, ee.Code, ee.Description, ee.ErrorURI
	}
	return e
}

func (s *Session) refreshErrorLocked(now time.Time) *RefreshError {
	d := &s.data
	e := &RefreshError{Cause: d.Cause(), Attempt: d.Attempt(), At: now, TokenValid: d.Usable(now), Expiry: d.Expiry(),
		Err: s.last.err, RetryAfter: s.last.retryAfter}
	switch d.State() {
	case states.Backoff:
		e.NextAt = d.NextAt()
	case states.Refreshing, states.Waiting:
		// The failure belongs to the attempt before the one under way.
		e.InFlight, e.Attempt = true, max(d.Attempt()-1, 1)
	}
	if ee := s.last.endpoint; ee != nil {
		e.URL, e.Status, e.Code, e.Description, e.ErrorURI = ee.URL, ee.Status, ee.Code, ee.Description, ee.ErrorURI
	}
	return e
}
