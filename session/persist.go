package session

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/states"
)

// storeRetryMax bounds the wait between retries of a failed save.
const storeRetryMax = time.Minute

// storeState tracks what reached the store (WithStore). A failed save is never silent:
// it is logged at error level, shown in Status.StoreError and retried on a
// timer (1 s, 2 s, 4 s, … at most a minute apart) until the newest pair is
// saved, since a rotated refresh token that is never saved is lost at the
// next restart.
type storeState struct {
	mu      sync.Mutex
	saved   uint64 // version of the newest pair saved
	err     error  // the last failure, nil after a success
	retries int    // failures in a row
	timer   *clock.Timer
}

// save writes t (version ver) to the session's own store (WithStore),
// unless a newer pair was saved meanwhile. On failure it logs, records the
// error and arms a retry. A coordinated session publishes instead, as its
// machine asks (states.Effects.Store).
func (s *Session) save(ctx context.Context, t Token, ver uint64) error {
	if s.cfg.store == nil {
		return nil
	}
	st := &s.st
	st.mu.Lock()
	if ver <= st.saved {
		st.mu.Unlock()
		return nil
	}
	err := s.cfg.store.Save(ctx, t)
	if err == nil {
		st.saved, st.err, st.retries = ver, nil, 0
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
		}
		st.mu.Unlock()
		return nil
	}
	st.err = err
	st.retries++
	s.cfg.logger.LogAttrs(context.Background(), slog.LevelError, "session: saving the token pair failed; retrying",
		slog.String("session", s.cfg.id), slog.Int("failures", st.retries), slog.String("err", err.Error()))
	if st.timer == nil {
		delay := min(time.Second<<min(st.retries-1, 6), storeRetryMax)
		st.timer = s.cfg.clock.AfterFunc(delay, s.retrySave)
	}
	st.mu.Unlock()
	s.storeHook("save", err)
	return err
}

// storeHook reports a store failure to Hooks.StoreError. It is called
// without the store's lock, since a hook may read Status.
func (s *Session) storeHook(op string, err error) {
	if h := s.cfg.hooks.StoreError; h != nil {
		info := StoreError{Session: s.cfg.id, Op: op, Err: err, At: s.cfg.clock.Now()}
		s.hook(func() { h(info) })
		s.deliver(false)
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

// flushStore makes one last attempt to put the newest pair where it
// belongs, for Shutdown: a coordinated session publishes a pair its machine
// has not published yet (states.InFlush), another stops the save's retry
// timer and saves.
func (s *Session) flushStore(ctx context.Context) error {
	if ctx.Err() != nil {
		ctx = context.Background() // the pair matters more than the deadline
	}
	if s.cfg.coord != nil {
		s.mu.Lock()
		fx := s.applyLocked(states.Input{Kind: states.InFlush}, s.cfg.clock.Now(), nil)
		s.unlock()
		if err := s.perform(ctx, fx, true); err != nil {
			return fmt.Errorf("session: publishing the token pair: %w", err)
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
	err := s.save(ctx, tok, ver)
	s.st.mu.Lock()
	if s.st.timer != nil { // armed by that failure: nobody is left to use it
		s.st.timer.Stop()
		s.st.timer = nil
	}
	s.st.mu.Unlock()
	return err
}

// storeError returns the last failure to save, or nil.
func (s *Session) storeError() error {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.err
}
