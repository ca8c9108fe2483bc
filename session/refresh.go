package session

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/authfsm/authfsm/states"
)

// maxCause bounds the cause of a failed attempt, as errors, logs and audit
// records show it.
const maxCause = 500

// sendStep sends the request of fx (states.Effects.Send) — the refresh
// token, again inside the reuse grace, or the fallback grant — and returns
// its classified answer as the machine's next input, with the pair it
// carries and the failure, if any. The first request of an attempt may be
// kept back by the shared throttle; one that follows within the attempt
// (the fallback grant after a refusal) shares its timeout.
func (s *Session) sendStep(ctx context.Context, fx states.Effects, a *attemptState) (states.Input, *Token, *failure) {
	s.mu.Lock()
	cur, attemptNo := s.tok, s.data.Attempt()
	followUp := a.reqCtx != nil && a.flight == fx.Flight
	if followUp {
		msg := "session: refresh token refused; trying the fallback grant"
		if s.data.Reason() == states.ReasonMisconfigured {
			msg = "session: client refused by the authorization server; trying the fallback grant"
		}
		s.logLocked(slog.LevelWarn, msg, slog.String("cause", s.data.Cause()))
	}
	s.unlockHandOff()
	started := s.cfg.clock.Now()
	fallback := fx.Send == states.GrantFallback
	if !followUp {
		if t := s.cfg.throttle; t != nil && !t.Allow(started) {
			if h := s.cfg.hooks.Throttled; h != nil {
				info := hooks.Throttled{Session: s.cfg.id, Attempt: attemptNo, At: started}
				s.hook(func() { h(info) })
			}
			return states.Input{Kind: states.InThrottled, Flight: fx.Flight}, nil, &failure{}
		}
		a.close()
		a.reqCtx, a.reqCancel = s.cfg.requestContext(ctx, s.cfg.timeout)
		a.flight = fx.Flight
	}
	if h := s.cfg.hooks.RequestStart; h != nil {
		info := hooks.RequestStart{Session: s.cfg.id, Attempt: attemptNo, Fallback: fallback, At: started}
		s.hook(func() { h(info) })
		s.handOff()
	}
	r := s.refresher
	if fallback {
		r = s.cfg.fallback
	}
	tok, err := r.Refresh(a.reqCtx, cur)
	now := s.cfg.clock.Now()
	if errors.Is(err, ErrNoRefreshToken) {
		// Nothing was sent: there is nothing to present (the machine turns
		// to the fallback grant, or waits for a pair from outside).
		return states.Input{Kind: states.InNoRefresh, Flight: fx.Flight}, nil, &failure{err: err}
	}
	v, fail := s.classify(err, now, cur)
	if t := s.cfg.throttle; t != nil {
		a.accepted = v.Class == policy.OK || (fail.endpoint != nil && policy.Accepted(fail.endpoint.Outcome()))
		a.record = true
	}
	if v.Class == policy.OK {
		// The session's clock is the one that counts: a refresher's clock
		// may differ (an oauth.Client on the real clock under a test's mock), so
		// keep the lifetime it reported and measure it from now.
		if !tok.Issued.IsZero() {
			tok.Expiry = now.Add(tok.Expiry.Sub(tok.Issued))
		}
		tok.Issued = now
	}
	if h := s.cfg.hooks.RequestDone; h != nil {
		info := hooks.RequestDone{Session: s.cfg.id, Attempt: attemptNo, Fallback: fallback, Duration: now.Sub(started),
			Class: v.Class, Cause: v.Cause, At: now}
		if ee := fail.endpoint; ee != nil {
			info.Status, info.Code = ee.Status, ee.Code
		}
		if v.Class == policy.OK {
			info.Status, info.Expiry, info.Token = 200, tok.Expiry, audit.Fingerprint(string(tok.Access))
		}
		s.hook(func() { h(info) })
	}
	in := states.Input{Kind: states.InResult, Verdict: v, Flight: fx.Flight, Issued: tok.Issued, Expiry: tok.Expiry,
		Rotated: v.Class == policy.OK && tok.Refresh != "" && tok.Refresh != cur.Refresh}
	if v.Class == policy.OK {
		return in, &tok, nil
	}
	return in, nil, &fail
}

// sameClient reports whether the fallback grant fb authenticates to the
// authorization server as the same client as the primary refresher, as
// the primary says when it can tell (oauth.Client.SameClient). Any other
// fallback (another client, a RefresherFunc) may authenticate otherwise
// (states.Config.FallbackSameClient).
func sameClient(primary, fb Refresher) bool {
	p, ok := primary.(interface{ SameClient(Refresher) bool })
	return ok && p.SameClient(fb)
}

// classify turns a refresher's result into a verdict, and keeps what a
// RefreshError reports about a failure.
//
// The cause is scrubbed of the pair the attempt presented (cur): a custom
// Refresher's error text, unlike an oauth.Client's, may quote it.
func (s *Session) classify(err error, now time.Time, cur Token) (policy.Verdict, failure) {
	f := failure{err: err}
	var o policy.Outcome
	switch {
	case err == nil:
		o = policy.Outcome{Status: 200, At: now}
	case errors.As(err, &f.endpoint):
		o = f.endpoint.Outcome()
	case errors.Is(err, context.DeadlineExceeded):
		o = policy.NoAnswer(now)
	default:
		// A refresher that says nothing about what happened may have
		// reached the server.
		o = policy.Outcome{Err: err, Sent: true, At: now}
	}
	v := s.cfg.classifier.Classify(o)
	if v.Class != policy.OK {
		v.Cause = redact.Text(redact.NewScrubber(cur.Access.Reveal(), cur.Refresh.Reveal()), v.Cause, maxCause)
	}
	f.retryAfter, f.misconfigured = v.RetryAfter, v.Misconfigured
	return v, f
}

// logResultLocked logs what the machine made of an answer (in) to attempt
// n, which it has just taken in (fx).
func (s *Session) logResultLocked(n int, in states.Input, fx states.Effects) {
	d := &s.data
	switch {
	case fx.Send != states.GrantNone, in.Flight != d.Flight():
		// a follow-up within the attempt (logged when sent), or stale
	case fx.InstalledBy == states.Succeed:
		s.logLocked(slog.LevelDebug, "session: token refreshed", slog.Time("expiry", d.Expiry()), slog.Int("attempt", n))
	case d.State() == states.Revoked:
		s.logLocked(slog.LevelError, "session: revoked", slog.String("cause", d.Cause()), slog.Int("attempt", n))
	default:
		s.logLocked(slog.LevelWarn, "session: token refresh failed", slog.String("cause", d.Cause()),
			slog.Int("attempt", n), slog.String("state", d.State().String()),
			slog.Time("next_at", d.NextAt()), slog.Bool("token_valid", d.Usable(s.cfg.clock.Now())))
	}
}
