package session

import (
	"context"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// This file performs the machine's effects: it feeds an input to
// states.Machine, publishes the token snapshot, writes audit records, wakes
// waiters, starts the refresh the machine asks for and arms the one timer.
// It decides nothing itself.

// stepLocked applies in at now. When the step installs a token (a success,
// an adopted pair or SetToken), install becomes the current pair, announced
// by Hooks.TokenInstalled. It reports whether it did.
func (s *Session) stepLocked(in states.Input, now time.Time, install *Token) bool {
	d, fx := s.machine.Step(s.data, in, now)
	s.data = d
	trans := fx.Transitions()
	installed := false
	var how states.Event
	for _, t := range trans {
		if t.Event == states.Succeed || t.Event == states.SetToken || t.Event == states.Adopt {
			installed, how = true, t.Event
		}
	}
	if installed && install != nil {
		s.tok = *install
		s.tokVersion++
	}
	s.publishLocked(now)
	for _, t := range trans {
		s.auditLocked(t)
	}
	if h := s.cfg.hooks.TokenInstalled; h != nil && installed && install != nil {
		info := TokenInstalled{Session: s.cfg.id, Event: how, Expiry: s.data.Expiry, Token: audit.Fingerprint(string(s.tok.Access)), At: now}
		s.hook(func() { h(info) })
	}
	if len(trans) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	if s.data.State != states.Waiting {
		s.cancelWatchLocked()
	}
	if fx.StartRefresh {
		s.startRefreshLocked(fx.Flight)
	}
	if fx.Reread {
		s.rereadDue = true // conclude, which fed the refusal, reads the store
	}
	s.armLocked(fx.WakeAt, now)
	return installed && install != nil
}

// publishLocked makes Token's fast path see the current token and the
// instant until which it may be served (zero when it may not be), with
// the instant until which a caller may cache it (Token.ServeUntil) as the
// machine says at now.
func (s *Session) publishLocked(now time.Time) {
	var until, serve time.Time
	if s.data.State != states.Revoked && !s.data.Rejected && s.tok.Access != "" && !s.closed {
		until = s.data.Expiry
		serve = s.data.ServeUntil(now)
	}
	probation := s.data.Probation
	if p := s.snap.Load(); p != nil && p.until.Equal(until) && p.tok.Access == s.tok.Access &&
		p.tok.Expiry.Equal(s.tok.Expiry) && p.tok.ServeUntil.Equal(serve) && p.probation == probation {
		return
	}
	pub := s.tok
	pub.Refresh = "" // callers of Token need the access token only
	pub.ServeUntil = serve
	s.snap.Store(&snapshot{tok: pub, until: until, probation: probation})
}

// auditLocked queues the record of t; the outbox delivers it after the
// lock is released.
func (s *Session) auditLocked(t states.Transition) {
	s.seq++
	if s.cfg.sink == nil && s.cfg.hooks.Transition == nil {
		return
	}
	r := audit.FromTransition(t)
	r.Seq, r.Session, r.Token = s.seq, s.cfg.id, audit.Fingerprint(string(s.tok.Access))
	s.out.push(note{rec: &r})
}

// startRefreshLocked runs the one refresh the machine asked for, tagged with
// its flight number. Its context descends from Background, not from any
// caller, so no caller's cancellation can end it; Close, Revoke and SetToken
// cancel it through s.cancel.
func (s *Session) startRefreshLocked(flight uint64) {
	s.cancelFlightLocked()
	if s.closed {
		return // unreachable: a closed session takes no input that starts one
	}
	base := s.cfg.base
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	s.cancel = cancel
	s.wg.Add(1)
	attempt, cur, dead := s.data.Attempt, s.tok, s.refreshDead
	s.goroutine(func() { s.refresh(ctx, flight, attempt, cur, dead) })
}

func (s *Session) cancelFlightLocked() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

// armLocked keeps exactly one timer armed, for at (none when at is zero).
func (s *Session) armLocked(at, now time.Time) {
	if s.timer != nil && at.Equal(s.timerAt) {
		return
	}
	s.stopTimerLocked()
	s.timerAt = at
	if at.IsZero() || s.closed {
		return
	}
	gen := s.timerGen
	s.timer = s.cfg.clock.AfterFunc(at.Sub(now), func() { s.wake(gen) })
}

func (s *Session) stopTimerLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	// A callback that already fired but waits for the lock sees another
	// generation and does nothing.
	s.timerGen++
}

// wake is the timer's callback.
func (s *Session) wake(gen uint64) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed || gen != s.timerGen {
		return
	}
	s.timer, s.timerAt = nil, time.Time{}
	s.stepLocked(states.Input{Kind: states.InWake}, s.cfg.clock.Now(), nil)
}
