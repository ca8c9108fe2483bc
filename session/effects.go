package session

import (
	"context"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// This file performs the machine's effects that need no I/O: it feeds an
// input to states.Machine, installs the pair the machine says, publishes
// the token snapshot, writes audit records, wakes waiters, starts or stops
// the family's watch and arms the one timer; the effects that do I/O (a
// store operation, a request, a lease follow-up, a save) go to a worker
// (worker.go). It decides nothing itself.

// stepLocked applies in at now and hands the effects that do I/O to a
// worker. pair is the pair the input carries (an answer's, the family's,
// the application's), installed when the machine says so.
func (s *Session) stepLocked(in states.Input, now time.Time, pair *Token) states.Effects {
	fx := s.applyLocked(in, now, pair)
	s.dispatchLocked(fx)
	return fx
}

// applyLocked applies in at now and performs the effects that need no I/O;
// the caller performs the others (Lease, Store, Send, Save).
func (s *Session) applyLocked(in states.Input, now time.Time, pair *Token) states.Effects {
	prev := s.data.State()
	d, fx := s.machine.Step(s.data, in, now)
	s.data = d
	if pair != nil && fx.Install != states.InstallNone {
		switch fx.Install {
		case states.InstallPair:
			s.tok = *pair
		case states.InstallPairDead:
			s.tok = *pair
			s.tok.Refresh = "" // refused or spent: never presented again
		case states.InstallRefresh:
			s.tok.Refresh = pair.Refresh
		}
		s.tokVersion++
		if fx.Install != states.InstallRefresh {
			s.last = failure{}
		}
	}
	s.publishLocked(now)
	for _, t := range fx.Transitions() {
		s.auditLocked(t)
	}
	if h := s.cfg.hooks.TokenInstalled; h != nil && pair != nil && (fx.Install == states.InstallPair || fx.Install == states.InstallPairDead) {
		info := hooks.TokenInstalled{Session: s.cfg.id, Event: fx.InstalledBy, Expiry: s.data.Expiry(), Token: audit.Fingerprint(string(s.tok.Access)), At: now}
		s.hook(func() { h(info) })
	}
	if len(fx.Transitions()) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	if fx.WatchLease && !s.watchLease {
		// A watch for a newer pair alone does not see the lease's release,
		// which a waiting session takes over at: it starts anew. A watch
		// of the lease that is no longer wanted goes on (its next wait is
		// for a pair alone): it is usually this very watch, which just
		// reported an adoption, and a new goroutine for each adoption is
		// what a thousand sessions of one family pay for at once.
		s.cancelWatchLocked()
	}
	s.watchLease = fx.WatchLease
	if fx.Watch || fx.WatchLogout {
		s.watchLocked()
	} else {
		s.cancelWatchLocked()
	}
	if prev == states.LoggingIn && fx.InstalledBy == states.Adopt {
		s.cancelFlightLocked() // another process's login ended this one's wait
	}
	s.armLocked(fx.WakeAt, now)
	return fx
}

// hasIO reports whether fx asks for I/O.
func hasIO(fx *states.Effects) bool {
	return fx.Store != states.StoreNone || fx.Send != states.GrantNone || fx.Lease != states.LeaseNone || fx.Save || fx.Login
}

// dispatchLocked hands the I/O of fx to a new worker. A new attempt's
// worker replaces the one of the attempt before (its context is
// cancelled: the machine took the attempt as over).
func (s *Session) dispatchLocked(fx states.Effects) {
	if !hasIO(&fx) || s.closed {
		return
	}
	ctx := s.workContextLocked(fx.StartRefresh || fx.Login)
	s.wg.Add(1)
	s.goroutine(func() { s.work(ctx, fx) })
}

// workContextLocked returns the context of a worker: for an attempt, one
// that Close, Revoke, SetToken and the next attempt cancel (s.cancel); for
// a publish or a lease follow-up, one that only ends with the process.
// Neither descends from a caller's context, so no caller's cancellation
// ends the work.
func (s *Session) workContextLocked(attempt bool) context.Context {
	base := s.cfg.base
	if base == nil {
		base = context.Background()
	}
	if !attempt {
		return base
	}
	s.cancelFlightLocked()
	ctx, cancel := context.WithCancel(base)
	s.cancel = cancel
	return ctx
}

// publishLocked makes Token's fast path see the current token and the
// instant until which it may be served (zero when it may not be), with
// the instant until which a caller may cache it (Token.ServeUntil) as the
// machine says at now.
func (s *Session) publishLocked(now time.Time) {
	var until, serve time.Time
	switch st := s.data.State(); {
	case st == states.Revoked, st == states.NeedsLogin, st == states.LoggingIn:
		// Nothing is served.
	case !s.data.Rejected() && s.tok.Access != "" && !s.closed:
		until = s.data.Expiry()
		serve = s.data.ServeUntil(now)
	}
	probation, state := s.data.Probation(), s.data.State()
	if p := s.snap.Load(); p != nil && p.until.Equal(until) && p.tok.Access == s.tok.Access &&
		p.tok.Expiry.Equal(s.tok.Expiry) && p.tok.ServeUntil.Equal(serve) && p.probation == probation && p.state == state {
		return
	}
	pub := s.tok
	pub.Refresh = "" // callers of Token need the access token only
	pub.ServeUntil = serve
	s.storeSnapLocked(&snapshot{tok: pub, until: until, probation: probation, state: state})
}

// storeSnapLocked makes p the snapshot Token serves, and tells the mirror,
// if any.
func (s *Session) storeSnapLocked(p *snapshot) {
	s.snap.Store(p)
	if s.mirror != nil {
		s.mirror(p)
	}
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
