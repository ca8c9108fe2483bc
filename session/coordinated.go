package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/authfsm/authfsm/states"
)

// LeaseMargin is added to the request timeout to make the shortest refresh
// lease a coordinated session takes: the lease must outlast the request, or
// another process could take over while the answer is on its way.
const LeaseMargin = states.LeaseMargin

// watchRetry is how long the family's watch waits before it asks the
// coordinator again after a failure, or after a report that changed
// nothing while no lease is held (Coordinator.Wait then returns at once).
const watchRetry = DefaultPoll

// newHolder returns a random lease-holder id for one session.
func newHolder() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// storeStep performs the store operation of fx (states.Effects.Store) and
// returns what it found, as the machine's next input, with the pair it
// read (for an adoption) and the failure, if any.
func (s *Session) storeStep(ctx context.Context, fx states.Effects, a *attemptState) (states.Input, *Token, *failure) {
	c := s.cfg.coord
	cctx, cancel := s.storeCtx(ctx)
	defer cancel()
	if c == nil {
		return s.storeRead(cctx, fx, a)
	}
	in := states.Input{Flight: fx.Flight}
	var err error
	var pair *Token
	acquired := a.acquired
	a.acquired = nil
	switch fx.Store {
	case states.StoreRead:
		var fam Family
		if acquired != nil && acquired.flight == fx.Flight {
			fam = acquired.fam // read as the lease was taken: no round trip
		} else {
			fam, err = c.Read(cctx)
		}
		if err == nil {
			in, pair = s.familyInput(fam, a)
			in.Flight = fx.Flight
		}
	case states.StoreAcquire:
		var lease Lease
		var held bool
		if fa, ok := c.(FamilyAcquirer); ok {
			var fam Family
			fam, held, err = fa.AcquireFamily(cctx, s.holder, fx.For, fx.Generation)
			lease = fam.Lease
			if err == nil && held {
				a.acquired = &acquiredFamily{fam, fx.Flight}
			}
			if err == nil && !held && fam.Generation != fx.Generation {
				// Another process published since the read: no lease, and
				// the family as the acquire found it.
				in, pair = s.familyInput(fam, a)
				in.Flight = fx.Flight
				return in, pair, nil
			}
		} else {
			lease, held, err = c.Acquire(cctx, s.holder, fx.For)
		}
		if err == nil {
			in.Kind = states.InLeaseHeld
			if !held {
				in.Kind, in.Until = states.InBusy, lease.Until.Add(a.skew)
			}
		}
	case states.StoreMark:
		err = c.MarkInFlight(cctx, s.holder, fx.Generation)
		in.Kind = states.InMarked
		if errors.Is(err, ErrLeaseLost) {
			return states.Input{Kind: states.InLeaseLost, Flight: fx.Flight}, nil, &failure{err: err}
		}
	case states.StorePublish, states.StoreSeed:
		s.mu.Lock()
		tok := s.tok
		s.mu.Unlock()
		var gen uint64
		gen, err = c.Publish(cctx, s.holder, fx.Generation, tok)
		in.Kind, in.Generation = states.InPublished, gen
		if errors.Is(err, ErrGenerationMoved) {
			return states.Input{Kind: states.InGenMoved, Flight: fx.Flight}, nil, nil
		}
		if err == nil && fx.Store == states.StoreSeed {
			s.mu.Lock()
			s.logLocked(slog.LevelWarn, "session: the shared store had lost the family's state; seeded it with this process's pair",
				slog.Uint64("store_generation", fx.Generation), slog.Uint64("generation", gen))
			s.unlockHandOff()
		}
	}
	if err == nil {
		if in.Kind == states.InPublished {
			s.st.setErr(nil) // the pair is where it belongs
		}
		return in, pair, nil
	}
	return s.storeFailed(ctx, fx, err, a)
}

// storeFailed records err, a failure of the store operation of fx, and
// returns it as the machine's input.
func (s *Session) storeFailed(ctx context.Context, fx states.Effects, err error, a *attemptState) (states.Input, *Token, *failure) {
	if ctx.Err() == nil || !errors.Is(err, context.Canceled) { // a cancelled attempt's failure is no store failure
		s.st.setErr(err)
		s.storeHook(storeOpName(fx.Store), err)
		if a.storeErr == nil {
			a.storeErr = err
		}
	}
	s.mu.Lock()
	cur := s.tok
	s.mu.Unlock()
	detail := redact.Text(redact.NewScrubber(cur.Access.Reveal(), cur.Refresh.Reveal()), err.Error(), maxCause)
	return states.Input{Kind: states.InStoreDown, Flight: fx.Flight, Detail: detail}, nil, &failure{err: err}
}

// storeRead reads a store of the session's own (WithStore) that other
// processes may write, as the machine asks after a final refusal
// (states.Config.Shared): its pair counts as the session's own when it has
// the same access or the same refresh token. A plain store keeps no
// generation; the machine weighs another pair by its expiry.
func (s *Session) storeRead(ctx context.Context, fx states.Effects, a *attemptState) (states.Input, *Token, *failure) {
	in := states.Input{Kind: states.InFamily, Flight: fx.Flight}
	t, err := s.cfg.store.Load(ctx)
	switch {
	case errors.Is(err, ErrNoToken):
		err = nil
	case err == nil && t.Access != "":
		if t.Issued.IsZero() {
			t.Issued = s.cfg.clock.Now()
		}
		s.mu.Lock()
		cur := s.tok
		s.mu.Unlock()
		in.Issued, in.Expiry = t.Issued, t.Expiry
		in.Own, in.NoRefresh = t.Access == cur.Access || t.Refresh == cur.Refresh, t.Refresh == ""
	}
	if err != nil {
		return s.storeFailed(ctx, fx, err, a)
	}
	return in, &t, nil
}

// storeOpName is the operation's name in Hooks.StoreError.
func storeOpName(op states.StoreOp) string {
	if op == states.StorePublish || op == states.StoreSeed {
		return "publish"
	}
	return "coordinate"
}

// familyInput is what the session found in the family's store, as the
// machine takes it: times on the session's clock, the lease and the mark
// another holder's only. It returns the family's pair, for an adoption.
func (s *Session) familyInput(fam Family, a *attemptState) (states.Input, *Token) {
	now := s.cfg.clock.Now()
	a.skew = now.Sub(fam.Now)
	in := states.Input{Kind: states.InFamily, Generation: fam.Generation}
	pair := fam.Pair
	if pair.Access != "" {
		if pair.Issued.IsZero() {
			pair.Issued = now
		}
		s.mu.Lock()
		in.Own = pair.Access == s.tok.Access
		s.mu.Unlock()
		in.Issued, in.Expiry, in.NoRefresh = pair.Issued, pair.Expiry, pair.Refresh == ""
	}
	// A family published to that holds no pair was logged out.
	in.Removed = fam.Generation > 0 && pair.Access == "" && pair.Refresh == ""
	if l := fam.Lease; l.Holder != s.holder && l.Held(fam.Now) {
		in.Until = l.Until.Add(a.skew)
	}
	if m := fam.InFlight; m.Holder != "" && m.Holder != s.holder {
		in.Marked, in.MarkGeneration, in.MarkedAt = true, m.Generation, m.At.Add(a.skew)
	}
	return in, &pair
}

// leaseFollowUp keeps or gives up the session's lease after an attempt
// (states.Effects.Lease). Its failure changes nothing: a lease lapses.
func (s *Session) leaseFollowUp(ctx context.Context, fx states.Effects) {
	// Releasing must not depend on the attempt's context, which may have
	// ended, but waits no longer than any store operation.
	ctx, cancel := s.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	switch c := s.cfg.coord; fx.Lease {
	case states.LeaseRelease:
		c.Release(ctx, s.holder, !fx.ClearMark)
	case states.LeaseKeep:
		if fx.ClearMark {
			c.Release(ctx, s.holder, false)
		}
		c.Acquire(ctx, s.holder, fx.For)
	}
}

// watchLocked starts the family's watch (states.Effects.Watch), unless it
// runs: every report of Coordinator.Wait (GenerationWaiter.WaitGeneration
// when only a newer pair matters, Effects.WatchLease false) is fed to the
// machine as InFamily, which adopts a newer pair, takes over a released
// lease, or goes on watching. A watch that fails is tried again.
func (s *Session) watchLocked() {
	if s.watchCancel != nil || s.closed || s.cfg.coord == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.watchCancel = cancel
	gen := s.data.Generation()
	s.wg.Add(1)
	s.goroutine(func() {
		defer s.wg.Done()
		defer cancel()
		var a attemptState
		gw, _ := s.cfg.coord.(GenerationWaiter)
		for ctx.Err() == nil {
			s.mu.Lock()
			pairOnly := gw != nil && !s.watchLease
			s.mu.Unlock()
			var fam Family
			var err error
			if pairOnly {
				fam, err = gw.WaitGeneration(ctx, gen)
			} else {
				fam, err = s.cfg.coord.Wait(ctx, gen)
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.storeHook("wait", err)
				s.mu.Lock()
				s.logLocked(slog.LevelWarn, "session: watching the token family failed; trying again", slog.String("err", err.Error()))
				s.unlock()
				s.pause(ctx, watchRetry)
				continue
			}
			in, pair := s.familyInput(fam, &a)
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			s.stepLocked(in, s.cfg.clock.Now(), pair)
			lease := s.watchLease
			s.unlock()
			if lease && !pairOnly && fam.Generation == gen && !fam.Lease.Held(fam.Now) {
				// Nothing to wait for (Wait returns at once): poll.
				s.pause(ctx, watchRetry)
			}
			gen = fam.Generation
		}
	})
}

// pause waits for d on the session's clock (through a driving clock's
// Wait, if any), or until ctx ends.
func (s *Session) pause(ctx context.Context, d time.Duration) {
	done := make(chan struct{})
	t := s.cfg.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	s.await(ctx, done)
}

func (s *Session) cancelWatchLocked() {
	if s.watchCancel != nil {
		s.watchCancel()
		s.watchCancel = nil
	}
}
