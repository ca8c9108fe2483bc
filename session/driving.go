package session

import (
	"context"

	"github.com/benbjohnson/clock"
)

// A DrivingClock is a clock that also drives the goroutines and the I/O of
// the sessions that use it, so that a whole run of them is deterministic:
// it moves its time only once every goroutine it runs is blocked on it.
// The clock of authfsm conform, which runs a scenario through real
// Sessions against the simulator's server model, is one; a test's
// clock.Mock is not, and keeps WithClock's behaviour.
//
// A Session whose clock (WithClock) implements DrivingClock starts its
// goroutines (the refresh in flight, the watch of the token family) with
// Go instead of a go statement, waits in Token for a change of state with
// Wait instead of a select, and ends a refresh request when its timeout
// passes on the clock: the request's I/O is the clock's to drive too, so
// it gets no real time beyond that (see WithClock). The session behaves
// otherwise exactly as on any other clock.
type DrivingClock interface {
	clock.Clock
	// Go runs f on a new goroutine that the clock knows of.
	Go(f func())
	// Wait blocks the calling goroutine, which the clock runs, until done
	// is closed or ctx ends, and reports whether done was closed. When both
	// happen at one instant, it reports done.
	Wait(ctx context.Context, done <-chan struct{}) bool
}

// goroutine runs f on a new goroutine: the driving clock's, if any.
func (s *Session) goroutine(f func()) {
	if d := s.cfg.driver; d != nil {
		d.Go(f)
		return
	}
	go f()
}

// await blocks until ch is closed (true) or ctx ends (false): through the
// driving clock, if any.
func (s *Session) await(ctx context.Context, ch <-chan struct{}) bool {
	if d := s.cfg.driver; d != nil {
		return d.Wait(ctx, ch)
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
