package session

import (
	"context"
	"time"

	"github.com/authfsm/authfsm/states"
)

// A worker performs the I/O the machine asks for, one effect after the
// other, in the order the machine gives them: the lease follow-up, a save,
// then the store operation or the request, whose answer it feeds back as
// the machine's next input; it goes on with what that step asks for, and
// ends when a step asks for no more I/O. An attempt is one worker from its
// first round trip to its publish.

// work is a worker's goroutine.
func (s *Session) work(ctx context.Context, fx states.Effects) {
	defer s.wg.Done()
	s.perform(ctx, fx, false)
}

// attemptState is what a worker keeps between the effects of one attempt.
type attemptState struct {
	// reqCtx bounds the requests of the attempt (flight): the fallback grant
	// that follows a refusal has what is left of the first one's timeout.
	reqCtx    context.Context
	reqCancel context.CancelFunc
	flight    uint64
	// skew is the session's clock minus the store's, as the last read
	// measured it: leases and marks are on the store's clock.
	skew time.Duration
	// storeErr is the first store failure met (for SetToken).
	storeErr error
	// acquired is the family a FamilyAcquirer read as it gave this session
	// the lease: the answer to the read that follows.
	acquired *acquiredFamily
	// record, accepted: the answer to record in the shared throttle once
	// the machine took it in, unless the attempt goes on (the fallback).
	record, accepted bool
}

// acquiredFamily is the family read with the lease for attempt flight.
type acquiredFamily struct {
	fam    Family
	flight uint64
}

func (a *attemptState) close() {
	if a.reqCancel != nil {
		a.reqCancel()
	}
}

// perform performs fx and what the steps it leads to ask for. With
// untilPublished it stops after the first publish's answer (SetToken waits
// for that), and hands what follows to a worker of its own. It returns the
// first store failure met.
func (s *Session) perform(ctx context.Context, fx states.Effects, untilPublished bool) error {
	var a attemptState
	defer a.close()
	for hasIO(&fx) {
		if fx.Lease != states.LeaseNone {
			s.leaseFollowUp(ctx, fx)
		}
		if fx.Save {
			s.mu.Lock()
			tok, ver := s.tok, s.tokVersion
			s.mu.Unlock()
			s.save(context.WithoutCancel(ctx), tok, ver) // a failure is logged, shown and retried
		}
		var in states.Input
		var pair *Token
		var fail *failure
		switch {
		case fx.Login:
			in, pair = s.loginStep(ctx, fx)
		case fx.Store != states.StoreNone:
			in, pair, fail = s.storeStep(ctx, fx, &a)
		case fx.Send != states.GrantNone:
			in, pair, fail = s.sendStep(ctx, fx, &a)
		default:
			return a.storeErr
		}
		published := fx.Store == states.StorePublish || fx.Store == states.StoreSeed
		s.mu.Lock()
		if fail != nil && s.data.State() == states.Refreshing && in.Flight == s.data.Flight() {
			s.last = *fail // the failure of the attempt under way, for RefreshError
		}
		now, n := s.cfg.clock.Now(), s.data.Attempt()
		fx = s.applyLocked(in, now, pair)
		if in.Kind == states.InResult {
			s.logResultLocked(n, in, fx)
		}
		if a.record && !(fx.Send != states.GrantNone && fx.Flight == in.Flight) {
			// The attempt's outcome, once: a refusal followed by the
			// fallback grant is recorded by the fallback's answer.
			s.cfg.throttle.Record(now, a.accepted)
		}
		a.record = false
		if fx.StartRefresh {
			// The step started another attempt (an adopted pair due at
			// once): this worker goes on with it, under its context.
			ctx = s.workContextLocked(true)
		}
		if untilPublished && published {
			s.dispatchLocked(fx)
			s.unlock()
			return a.storeErr
		}
		if fx.Send != states.GrantNone {
			// The next request (the fallback grant) waits for no callback.
			s.unlockHandOff()
		} else {
			s.unlock()
		}
	}
	return a.storeErr
}
