package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// LeaseMargin is added to the request timeout to make the shortest refresh
// lease a coordinated session takes: the lease must outlast the request, or
// another process could take over while the answer is on its way.
const LeaseMargin = states.LeaseMargin

// storeDownCause prefixes the cause of an attempt that could not reach the
// family's shared store.
const storeDownCause = "shared store unreachable: "

// newHolder returns a random lease-holder id for one session.
func newHolder() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// leaseTTL is how long the session takes the family's lease for (WithLease).
func (s *Session) leaseTTL() time.Duration { return max(s.cfg.lease, s.cfg.timeout+LeaseMargin) }

// coordinate runs the family's protocol before flight's request: adopt a
// newer pair when another process published one; take the refresh lease or
// wait for its holder; read the family again; decide what to do with a
// refresh token that a vanished holder may have spent (Machine.Orphaned);
// mark the refresh in flight. It returns the plan for the attempt (not
// coordinated when the session refreshes alone with the store down) and
// whether to send the request at all; when not, it has told the machine
// why.
func (s *Session) coordinate(ctx context.Context, flight uint64, p plan) (plan, bool) {
	c := s.cfg.coord
	cctx, cancel := s.cfg.clock.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	fam, err := c.Read(cctx)
	if err == nil && s.reconcile(cctx, fam, false) {
		return p, false
	}
	var lease Lease
	held := false
	if err == nil {
		lease, held, err = c.Acquire(cctx, s.holder, s.leaseTTL())
	}
	if err == nil && !held {
		s.waitFor(flight, fam, lease)
		return p, false
	}
	if err == nil {
		fam, err = c.Read(cctx)
	}
	// Releasing must not depend on the attempt's context, which may have
	// ended, but waits no longer than any store operation.
	release := func(spent bool) {
		rctx, cancel := s.storeCtx(context.WithoutCancel(ctx))
		defer cancel()
		c.Release(rctx, s.holder, spent)
	}
	if err != nil {
		if held {
			release(false)
		}
		return s.storeDown(flight, p, err)
	}
	if s.reconcile(cctx, fam, true) {
		release(false)
		return p, false
	}
	fam.Generation = s.gen.Load() // a store that lost its state was seeded again
	if in := fam.InFlight; in.Holder != "" && in.Holder != s.holder && in.Generation == fam.Generation {
		switch s.machine.Orphaned(in.At, fam.Now) {
		case states.OrphanFallback:
			p.fallback, p.note = true, states.CrashedHolderCause
		case states.OrphanRevoke:
			release(true)
			// The family was read under the lease just now: nothing newer.
			s.conclude(flight, outcome{v: policy.Verdict{Class: policy.Permanent, Cause: states.CrashedHolderCause},
				reread: states.RereadSame, now: s.cfg.clock.Now()})
			return p, false
		}
	}
	if err := c.MarkInFlight(cctx, s.holder, fam.Generation); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			s.conclude(flight, outcome{v: policy.Verdict{Class: policy.Transient, Cause: "refresh lease lost before the request was sent"},
				fail: failure{err: err}, now: s.cfg.clock.Now()})
			return p, false
		}
		release(false)
		return s.storeDown(flight, p, err)
	}
	s.pubFrom.Store(fam.Generation)
	p.coordinated = true
	return p, true
}

// storeDown handles an attempt whose shared store could not be reached: it
// fails transiently, paced by the policy, unless the machine lets the
// session refresh alone (Machine.Solo).
func (s *Session) storeDown(flight uint64, p plan, err error) (plan, bool) {
	s.mu.Lock()
	solo := s.machine.Solo(&s.data, s.cfg.clock.Now())
	if solo {
		s.logLocked(slog.LevelWarn, "session: shared store unreachable; refreshing alone", slog.String("err", err.Error()))
	}
	s.unlock()
	s.st.setErr(err)
	s.storeHook("coordinate", err)
	if solo {
		return p, true
	}
	cause := serverText(newScrubber(p.cur.Access.Reveal(), p.cur.Refresh.Reveal()), storeDownCause+err.Error(), maxCause)
	s.conclude(flight, outcome{v: policy.Verdict{Class: policy.Transient, Cause: cause}, fail: failure{err: err}, now: s.cfg.clock.Now()})
	return p, false
}

// reconcile brings the session in line with the family's state in the
// store, and reports whether it took the store's pair.
//
// A newer generation is adopted. A generation behind the session's means
// the store lost its state (a Redis restarted without persistence comes
// back empty; one restored from a snapshot comes back old): the store's
// pair is adopted only if it expires later than the session's (a process
// refreshed since), taken as the same pair renumbered if it is the
// session's, and otherwise — an empty or stale store — replaced by the
// session's own pair when the session holds the lease (seeding), so no
// process is ever handed a refresh token that was already rotated. A
// session that New was given its pair (generation 0) weighs any generation
// so, the first time: the store may hold an older pair than a fresh login.
func (s *Session) reconcile(ctx context.Context, fam Family, holding bool) bool {
	mine := s.gen.Load()
	if fam.Generation == mine {
		return false
	}
	if fam.Generation > mine && !(mine == 0 && s.ownInitial) {
		return s.adopt(fam)
	}
	s.mu.Lock()
	cur := s.tok
	s.mu.Unlock()
	switch {
	case fam.Pair.Access != "" && fam.Pair.Access == cur.Access:
		s.gen.Store(fam.Generation)
	case fam.Pair.Access != "" && fam.Pair.Expiry.After(cur.Expiry):
		return s.adopt(fam)
	case holding && cur.Access != "":
		gen, err := s.cfg.coord.Publish(ctx, s.holder, fam.Generation, cur)
		if err != nil {
			s.st.setErr(err)
			return false
		}
		s.gen.Store(gen)
		// Publish released the lease; the refresh that follows needs it.
		s.cfg.coord.Acquire(ctx, s.holder, s.leaseTTL())
		msg := "session: the shared store had lost the family's state; seeded it with this process's pair"
		if mine == 0 {
			msg = "session: the shared store held an older pair than the one the session started with; replaced it"
		}
		s.mu.Lock()
		s.logLocked(slog.LevelWarn, msg, slog.Uint64("store_generation", fam.Generation), slog.Uint64("generation", gen))
		s.unlock()
	}
	return false
}

// adopt installs the family's pair, and reports whether it did.
func (s *Session) adopt(fam Family) bool {
	return s.adoptPair(fam.Pair, fam.Generation, fmt.Sprintf("pair published by another process (generation %d)", fam.Generation))
}

// adoptPair installs pair, the store's, as generation gen, and reports
// whether it did.
func (s *Session) adoptPair(pair Token, gen uint64, cause string) bool {
	if pair.Access == "" {
		return false
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return false
	}
	if pair.Issued.IsZero() {
		pair.Issued = s.cfg.clock.Now()
	}
	s.gen.Store(gen)
	s.cancelFlightLocked()
	s.refreshDead, s.last = false, failure{}
	s.stepLocked(states.Input{Kind: states.InAdopt, Issued: pair.Issued, Expiry: pair.Expiry, Cause: cause}, s.cfg.clock.Now(), &pair)
	s.st.markSaved(s.tokVersion) // it is the store's own pair
	return true
}

// waitFor tells the machine that another process holds the lease, and
// watches the family for the pair it publishes until the session leaves
// waiting. The machine takes over when the lease lapses.
func (s *Session) waitFor(flight uint64, fam Family, lease Lease) {
	until := s.cfg.clock.Now().Add(lease.Until.Sub(fam.Now))
	s.mu.Lock()
	s.stepLocked(states.Input{Kind: states.InBusy, Flight: flight, Until: until}, s.cfg.clock.Now(), nil)
	if s.data.State != states.Waiting || s.closed {
		s.unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelWatchLocked()
	s.watchCancel = cancel
	gen := s.gen.Load()
	s.wg.Add(1)
	s.unlock()
	s.goroutine(func() {
		defer s.wg.Done()
		defer cancel()
		for ctx.Err() == nil {
			fam, err := s.cfg.coord.Wait(ctx, gen)
			if err != nil && ctx.Err() == nil {
				s.storeHook("wait", err)
				s.mu.Lock()
				s.logLocked(slog.LevelWarn, "session: watching the token family failed; taking over when the lease lapses",
					slog.String("err", err.Error()))
				s.unlock()
			}
			if err != nil || s.reconcile(ctx, fam, false) {
				return // adopted, or the machine's own wake-up takes over at the lease's end
			}
			if !fam.Lease.Held(fam.Now) {
				// Released without a pair (the holder gave up, or crashed
				// and its lease lapsed): take over now.
				s.mu.Lock()
				s.stepLocked(states.Input{Kind: states.InLeaseFree}, s.cfg.clock.Now(), nil)
				s.unlock()
				return
			}
			gen = fam.Generation // a change that was not a newer pair: wait for the next
		}
	})
}

func (s *Session) cancelWatchLocked() {
	if s.watchCancel != nil {
		s.watchCancel()
		s.watchCancel = nil
	}
}

// keepOrRelease extends the session's lease for d after a failed attempt
// it will retry — clearing its in-flight mark first when the attempt
// certainly left the refresh token unspent, so that only a holder that
// vanished with a possibly spent token leaves a mark behind — or, with d
// zero, releases the lease and clears the mark: a live holder that gives up
// would present the same token at its next cycle, as a single process does,
// so its mark would only make the next holder revoke itself over a 503.
func (s *Session) keepOrRelease(d time.Duration, clearMark bool) {
	ctx, cancel := s.storeCtx(context.Background())
	defer cancel()
	if d <= 0 || clearMark {
		s.cfg.coord.Release(ctx, s.holder, false)
	}
	if d > 0 {
		s.cfg.coord.Acquire(ctx, s.holder, d)
	}
}
