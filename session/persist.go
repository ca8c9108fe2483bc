package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// storeRetryMax bounds the wait between retries of a failed save.
const storeRetryMax = time.Minute

// storeState tracks what reached the store. A failed save is never silent:
// it is logged at error level, shown in Status.StoreError and retried on a
// timer (1 s, 2 s, 4 s, … at most a minute apart) until the newest pair is
// saved, since a rotated refresh token that is never saved is lost at the
// next restart.
//
// Its lock guards the fields only and is never held across I/O, since
// Status takes it. The saves themselves take turns through gate, which a
// save waits for only as long as its context allows.
type storeState struct {
	gate    chan struct{} // holds a token while a save performs its I/O
	mu      sync.Mutex
	saved   uint64 // version of the newest pair saved
	err     error  // the last failure, nil after a success
	retries int    // failures in a row
	timer   *clock.Timer
}

// enter takes the gate: at once when it is free, even with ctx done (one
// attempt that waits for nothing), or when the save before ends, at most
// until ctx ends.
func (st *storeState) enter(ctx context.Context) error {
	select {
	case st.gate <- struct{}{}:
		return nil
	default:
	}
	select {
	case st.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("session: token store: an earlier save has not finished: %w", ctx.Err())
	}
}

func (st *storeState) leave() { <-st.gate }

// savedAt reports whether version ver, or a newer one, is in the store.
func (st *storeState) savedAt(ver uint64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return ver <= st.saved
}

// storeCtx bounds one operation on the store or the family's coordinator:
// by the request timeout (WithRequestTimeout), and by the session's life,
// which Shutdown ends at its deadline. A wait that ends so counts as the
// store being down.
func (s *Session) storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := s.cfg.requestContext(parent, s.cfg.timeout)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// save writes t (version ver) to the session's own store (WithStore),
// unless a newer pair was saved meanwhile. On failure it logs, records the
// error and arms a retry. It waits for the store no longer than storeCtx
// allows. A coordinated session publishes instead, as its machine asks
// (states.Effects.Store).
func (s *Session) save(ctx context.Context, t Token, ver uint64) error {
	return s.saveVersion(ctx, t, ver, false)
}

// saveVersion is save; last marks Shutdown's last attempt, which ends
// every other wait for the store when its own ends, and then waits for the
// save under way to return rather than give up on it.
func (s *Session) saveVersion(parent context.Context, t Token, ver uint64, last bool) error {
	if s.cfg.store == nil {
		return nil
	}
	ctx, cancel := s.storeCtx(parent)
	defer cancel()
	st := &s.st
	if st.savedAt(ver) {
		return nil
	}
	if err := st.enter(ctx); err != nil {
		if !last {
			return s.saveFailed(err)
		}
		// Ending the session's life ends the context of the save under
		// way, which then returns at once (a Store honours ctx); its
		// outcome decides whether this attempt is needed.
		s.endLife()
		st.gate <- struct{}{}
	}
	if st.savedAt(ver) {
		st.leave()
		return nil
	}
	err := s.cfg.store.Save(ctx, t)
	st.leave()
	if err != nil {
		if last && parent.Err() != nil && errors.Is(err, context.Canceled) {
			// Shutdown's deadline ended the session's life and with it
			// this save: the deadline is the reason, whichever of the two
			// the store saw first.
			err = parent.Err()
		}
		return s.saveFailed(err)
	}
	st.mu.Lock()
	st.saved, st.err, st.retries = max(st.saved, ver), nil, 0
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	st.mu.Unlock()
	return nil
}

// saveFailed records a failed save, logs it and arms the retry timer.
func (s *Session) saveFailed(err error) error {
	st := &s.st
	st.mu.Lock()
	st.err = err
	st.retries++
	failures := st.retries
	if st.timer == nil {
		delay := min(time.Second<<min(st.retries-1, 6), storeRetryMax)
		st.timer = s.cfg.clock.AfterFunc(delay, s.retrySave)
	}
	st.mu.Unlock()
	s.cfg.logger.LogAttrs(context.Background(), slog.LevelError, "session: saving the token pair failed; retrying",
		s.logAttrs(slog.Int("failures", failures), slog.String("err", err.Error()))...)
	s.storeHook("save", err)
	return err
}

// storeHook reports a store failure to Hooks.StoreError. It is called
// without the store's lock, since a hook may read Status.
func (s *Session) storeHook(op string, err error) {
	if h := s.cfg.hooks.StoreError; h != nil {
		info := hooks.StoreError{Session: s.cfg.id, Op: op, Err: err, At: s.cfg.clock.Now()}
		s.hook(func() { h(info) })
		s.handOff()
	}
}

// setErr records a failure to reach the store outside a save (a
// coordinator's read or lease).
func (st *storeState) setErr(err error) {
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
}

// retrySave is the retry timer's callback: it saves the newest pair.
func (s *Session) retrySave() {
	s.st.mu.Lock()
	s.st.timer = nil
	s.st.mu.Unlock()
	s.mu.Lock()
	closed, tok, ver := s.closed, s.tok, s.tokVersion
	s.mu.Unlock()
	if !closed { // Shutdown makes the last attempt itself
		s.save(context.Background(), tok, ver)
	}
}

// flushStore stops the retry timer and makes one last attempt to save the
// newest pair, for Shutdown, within ctx (an attempt that waits for nothing
// when ctx has ended already). It returns a *SaveError when the newest pair
// is not in the store.
func (s *Session) flushStore(ctx context.Context) error {
	if s.cfg.coord != nil {
		// A coordinated session publishes a pair its machine has not
		// published yet (states.InFlush).
		s.mu.Lock()
		fx := s.applyLocked(states.Input{Kind: states.InFlush}, s.cfg.clock.Now(), nil)
		tok := s.tok
		s.unlock()
		if err := s.perform(ctx, fx, true); err != nil {
			return s.saveError(tok, err)
		}
		return nil
	}
	s.st.mu.Lock()
	if s.st.timer != nil {
		s.st.timer.Stop()
		s.st.timer = nil
	}
	s.st.mu.Unlock()
	s.mu.Lock()
	tok, ver := s.tok, s.tokVersion
	s.mu.Unlock()
	err := s.saveVersion(ctx, tok, ver, true)
	s.st.mu.Lock()
	if s.st.timer != nil { // armed by that failure: nobody is left to use it
		s.st.timer.Stop()
		s.st.timer = nil
	}
	s.st.mu.Unlock()
	if err != nil {
		return s.saveError(tok, err)
	}
	return nil
}

// saveError describes the failure err to save tok.
func (s *Session) saveError(tok Token, err error) *SaveError {
	s.mu.Lock()
	gen := s.data.Generation()
	s.mu.Unlock()
	return &SaveError{Token: audit.Fingerprint(string(tok.Access)), Expiry: tok.Expiry, Generation: gen, Err: err}
}

// storeError returns the last failure to save, or nil.
func (s *Session) storeError() error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.err
}

// SaveError says that the session's newest token pair is not in its store
// (or its family's coordinator): Shutdown returns it when its last attempt
// to save failed, SetToken when the new pair's save did. A rotated refresh
// token that never reaches the store is lost when the process ends, so
// whoever ends the process should know. It names the pair by fingerprint,
// never by its secrets. Errors.Is and errors.As see the store's error
// through it (ErrLocked, context.DeadlineExceeded, …).
type SaveError struct {
	// Token is the unsaved pair's access-token fingerprint
	// (audit.Fingerprint), as Status.Token and audit records show it.
	Token string
	// Expiry is the unsaved access token's expiry.
	Expiry time.Time
	// Generation is, with a Coordinator, the family's generation the
	// session last held: the store holds that pair or another process's
	// newer one, not this one. 0 without a Coordinator.
	Generation uint64
	// Err is the store's failure.
	Err error
}

// Error implements error.
func (e *SaveError) Error() string {
	where := "the store"
	if e.Generation > 0 {
		where = fmt.Sprintf("the store (which holds generation %d or a later one of another process)", e.Generation)
	}
	return fmt.Sprintf("session: the newest token pair (access token %s) is not in %s: %v", e.Token, where, e.Err)
}

// Unwrap returns the store's failure.
func (e *SaveError) Unwrap() error { return e.Err }
