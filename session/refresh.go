package session

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// maxCause bounds the cause of a failed attempt, as errors, logs and audit
// records show it.
const maxCause = 500

// refresh performs one attempt of flight and feeds its classified outcome
// back to the machine. With a Coordinator the attempt first goes through
// the family's protocol (coordinate), which may end it without a request:
// a newer pair adopted, another holder waited for, the store down.
func (s *Session) refresh(ctx context.Context, flight uint64, attemptNo int, cur Token, dead bool) {
	defer s.wg.Done()
	p := plan{cur: cur, fallback: dead}
	if s.cfg.coord != nil {
		// This session's previous pair may still be on its way to the
		// store: read the family only once it got there.
		wctx, cancel := s.cfg.requestContext(ctx, s.cfg.timeout)
		s.st.awaitPublished(wctx)
		cancel()
		var proceed bool
		if p, proceed = s.coordinate(ctx, flight, p); !proceed {
			return
		}
	}
	started := s.cfg.clock.Now()
	if t := s.cfg.throttle; t != nil && !t.allow(started) {
		if h := s.cfg.hooks.Throttled; h != nil {
			info := Throttled{Session: s.cfg.id, Attempt: attemptNo, At: started}
			s.hook(func() { h(info) })
		}
		s.conclude(flight, outcome{v: policy.Verdict{Class: policy.Transient, Cause: throttledCause}, now: started, coordinated: p.coordinated})
		return
	}
	if h := s.cfg.hooks.RequestStart; h != nil {
		info := RequestStart{Session: s.cfg.id, Attempt: attemptNo, Fallback: p.fallback, At: started}
		s.hook(func() { h(info) })
		s.deliver(false)
	}
	actx, cancel := s.cfg.requestContext(ctx, s.cfg.timeout)
	tok, err, usedFallback, refusal := s.attempt(actx, p.cur, p.fallback)
	cancel()
	now := s.cfg.clock.Now()
	v, fail := s.classify(err, now, p.cur)
	if t := s.cfg.throttle; t != nil {
		accepted := v.Class == policy.OK || (fail.endpoint != nil && policy.Accepted(fail.endpoint.Outcome()))
		t.record(now, accepted)
	}
	if v.Class == policy.OK {
		// The session's clock is the one that counts: a refresher's clock
		// may differ (a Client on the real clock under a test's mock), so
		// keep the lifetime it reported and measure it from now.
		if !tok.Issued.IsZero() {
			tok.Expiry = now.Add(tok.Expiry.Sub(tok.Issued))
		}
		tok.Issued = now
	}
	if h := s.cfg.hooks.RequestDone; h != nil {
		info := RequestDone{Session: s.cfg.id, Attempt: attemptNo, Fallback: p.fallback || usedFallback, Duration: now.Sub(started),
			Class: v.Class, Cause: v.Cause, At: now}
		if ee := fail.endpoint; ee != nil {
			info.Status, info.Code = ee.Status, ee.Code
		}
		if v.Class == policy.OK {
			info.Status, info.Expiry, info.Token = 200, tok.Expiry, audit.Fingerprint(string(tok.Access))
		}
		s.hook(func() { h(info) })
	}
	s.conclude(flight, outcome{tok: tok, v: v, fail: fail, usedFallback: usedFallback, refusal: refusal,
		note: p.note, now: now, coordinated: p.coordinated})
}

// plan is how an attempt is made: the pair to present, whether to use the
// fallback grant (and the note that says why, for the audit record), and
// whether the attempt holds the family's lease.
type plan struct {
	cur         Token
	fallback    bool
	note        string
	coordinated bool
}

// outcome is what an attempt produced, for conclude.
type outcome struct {
	tok          Token
	v            policy.Verdict
	fail         failure
	usedFallback bool
	refusal      string // what was refused and why, when this attempt saw it: "the client was refused (…)"
	note         string // why the plan chose the fallback grant
	now          time.Time
	coordinated  bool
	// reread is what the store held when it was read again after a
	// refusal (states.Input.Reread), and rereadNote why it could not be.
	reread     states.Reread
	rereadNote string
}

// conclude feeds the outcome of flight's attempt to the machine, logs it,
// and saves (or publishes) a new pair.
func (s *Session) conclude(flight uint64, o outcome) {
	tok, v, now := o.tok, o.v, o.now
	s.mu.Lock()
	if flight != s.data.Flight || s.data.State != states.Refreshing {
		s.unlock() // abandoned by Revoke, SetToken or an adopted pair
		return
	}
	// A session being shut down still takes the answer in: it may carry
	// the only copy of a rotated refresh token, which Shutdown waits to
	// save.
	if o.usedFallback {
		s.refreshDead = true
	}
	rotated := false
	if v.Class == policy.OK {
		// A rotating server has retired the old refresh token the moment it
		// issued this one, so keep the new one even if the machine refuses
		// the access token (an expiry that did not advance).
		// Only a new refresh token revives the primary grant: a Client
		// whose answer has none hands back the old one, which a fallback
		// answer carries as it is, and that one was refused.
		if tok.Refresh != "" && tok.Refresh != s.tok.Refresh {
			s.tok.Refresh, rotated = tok.Refresh, true
			s.tokVersion++
			s.refreshDead = false
		}
	}
	if v.Class != policy.OK {
		s.last = o.fail
	}
	in := states.Input{Kind: states.InResult, Verdict: v, Flight: flight, Issued: tok.Issued, Expiry: tok.Expiry, Reread: o.reread}
	switch {
	case v.Class != policy.OK:
		in.Cause = o.rereadNote
	case o.refusal != "":
		// The audit record of the success says why the fallback was needed,
		// including a lost answer that probably consumed the refresh token.
		in.Cause = "fallback grant after " + o.refusal
		if note := s.data.ConsumedNote(); note != "" {
			in.Cause += ": " + note
		}
	case o.note != "":
		in.Cause = "fallback grant: " + o.note
	}
	attemptNo := s.data.Attempt
	installed := s.stepLocked(in, now, &tok)
	if s.rereadDue { // the refusal waits for the store to be read again
		s.rereadDue = false
		clearMark := !s.data.MaybeConsumed
		s.unlock()
		s.reread(flight, o, clearMark)
		return
	}
	if installed {
		s.last = failure{}
	}
	s.logResultLocked(attemptNo, v, installed, now)
	saved, ver := s.tok, s.tokVersion
	var leaseFor time.Duration // how long to keep the lease; 0 releases it
	if o.coordinated && s.data.State == states.Backoff {
		// Keep the lease through the backoff, so the other processes keep
		// waiting instead of retrying at once: the policy paces the family.
		leaseFor = s.data.NextAt.Sub(now) + s.leaseTTL()
	}
	clearMark := !s.data.MaybeConsumed
	publish := installed || rotated
	if publish && s.cfg.coord != nil {
		s.st.beginPublish() // before the next refresh can start: see awaitPublished
		defer s.st.endPublish()
	}
	s.unlock()

	if o.coordinated && !publish {
		s.keepOrRelease(leaseFor, clearMark)
	}
	if publish {
		s.save(context.Background(), saved, ver) // a failure is logged, shown and retried
	}
}

// attempt runs the refresher, and the fallback grant when the refresh token
// is refused for good (or was refused before: dead) and the machine says
// so (states.Machine.Fallback): not after a refusal of the client itself
// when the fallback authenticates as the same client, nor after a suspect
// refusal that has not repeated yet. It reports whether the primary grant
// is known dead, and what was refused when this attempt saw it ("the
// refresh token was refused (400 invalid_grant)").
func (s *Session) attempt(ctx context.Context, cur Token, dead bool) (Token, error, bool, string) {
	fb := s.cfg.fallback
	if fb != nil && dead {
		tok, err := fb.Refresh(ctx, cur)
		if err != nil {
			err = &fallbackError{primary: "refresh token refused earlier", err: err}
		}
		return tok, err, true, ""
	}
	tok, err := s.refresher.Refresh(ctx, cur)
	if err == nil || fb == nil {
		return tok, err, false, ""
	}
	v, _ := s.classify(err, s.cfg.clock.Now(), cur)
	same := sameClient(s.refresher, fb)
	s.mu.Lock()
	try := s.machine.Fallback(&s.data, v, same)
	refused := "refresh token"
	if v.Misconfigured {
		refused = "client"
	}
	if try {
		msg := "session: refresh token refused; trying the fallback grant"
		if v.Misconfigured {
			msg = "session: client refused by the authorization server; trying the fallback grant"
		}
		s.logLocked(slog.LevelWarn, msg, slog.String("cause", v.Cause))
	}
	s.unlock()
	if !try {
		return tok, err, false, ""
	}
	tok, err = fb.Refresh(ctx, cur)
	if err != nil {
		err = &fallbackError{primary: refused + " refused (" + v.Cause + ")", err: err}
	}
	return tok, err, true, "the " + refused + " was refused (" + v.Cause + ")"
}

// sameClient reports whether the fallback grant fb authenticates to the
// authorization server as the same client as the primary refresher: both
// are Clients with the same token endpoint (TokenURL, or the Issuer that
// discovery starts from), client id, secret, authentication style and
// client assertion (the same pointer; none for both). Any other fallback
// (another client, a RefresherFunc) may authenticate otherwise.
func sameClient(primary, fb Refresher) bool {
	p, ok := primary.(*Client)
	f, ok2 := fb.(*Client)
	if !ok || !ok2 {
		return false
	}
	a, b := &p.e, &f.e
	if a.TokenURL != b.TokenURL || a.Issuer != b.Issuer || a.ClientID != b.ClientID ||
		a.ClientSecret != b.ClientSecret || a.AuthStyle != b.AuthStyle {
		return false
	}
	if a.Assertion == nil || b.Assertion == nil {
		return a.Assertion == nil && b.Assertion == nil
	}
	// Only pointers compare without the risk of a panic.
	t := reflect.TypeOf(a.Assertion)
	return t == reflect.TypeOf(b.Assertion) && t.Kind() == reflect.Pointer && a.Assertion == b.Assertion
}

// fallbackError is a failure of the fallback grant after the refresh token
// was refused. It unwraps to the fallback's error, which is what classifies.
type fallbackError struct {
	primary string
	err     error
}

func (e *fallbackError) Error() string {
	return "session: " + e.primary + "; fallback grant failed: " + e.err.Error()
}
func (e *fallbackError) Unwrap() error { return e.err }

// classify turns a refresher's result into a verdict, and keeps what a
// RefreshError reports about a failure.
//
// The cause is scrubbed of the pair the attempt presented (cur): a custom
// Refresher's error text, unlike a Client's, may quote it.
func (s *Session) classify(err error, now time.Time, cur Token) (policy.Verdict, failure) {
	prefix := ""
	var fe *fallbackError
	if errors.As(err, &fe) {
		prefix = fe.primary + "; fallback grant: "
	}
	f := failure{err: err}
	var o policy.Outcome
	switch {
	case err == nil:
		o = policy.Outcome{Status: 200, At: now}
	case errors.Is(err, ErrNoRefreshToken):
		return policy.Verdict{Class: policy.Permanent, Cause: prefix + "no refresh token to refresh with"}, f
	case errors.As(err, &f.endpoint):
		o = f.endpoint.Outcome()
	case errors.Is(err, context.DeadlineExceeded):
		o = policy.Outcome{Err: errNoAnswer{}, Sent: true, At: now}
	default:
		// A refresher that says nothing about what happened may have
		// reached the server.
		o = policy.Outcome{Err: err, Sent: true, At: now}
	}
	v := s.cfg.classifier.Classify(o)
	if v.Class != policy.OK {
		v.Cause = serverText(newScrubber(cur.Access.Reveal(), cur.Refresh.Reveal()), prefix+v.Cause, maxCause)
	}
	f.retryAfter, f.misconfigured = v.RetryAfter, v.Misconfigured
	return v, f
}

// logResultLocked logs the outcome of attempt n, which the machine has
// just taken in.
func (s *Session) logResultLocked(n int, v policy.Verdict, installed bool, now time.Time) {
	d := &s.data
	switch {
	case installed:
		s.logLocked(slog.LevelDebug, "session: token refreshed", slog.Time("expiry", d.Expiry), slog.Int("attempt", n))
	case d.State == states.Revoked:
		s.logLocked(slog.LevelError, "session: revoked", slog.String("cause", d.Cause), slog.Int("attempt", n))
	default:
		s.logLocked(slog.LevelWarn, "session: token refresh failed", slog.String("cause", v.Cause),
			slog.Int("attempt", n), slog.String("state", d.State.String()),
			slog.Time("next_at", d.NextAt), slog.Bool("token_valid", d.Usable(now)))
	}
}
