package session

import (
	"context"
	"errors"
	"log/slog"

	"github.com/authfsm/authfsm/states"
)

// reread reads the store again after the server refused the refresh token
// of flight, as the machine asked (states.Effects.Reread): another process
// sharing the store may have rotated the token or logged in since the
// attempt began, and its pair makes the refusal moot. A newer pair is
// adopted; otherwise the refusal goes back to the machine with what the
// store held (nothing newer, or a failure to read it), and the machine
// decides. A coordinated attempt first gives up the family's lease
// (clearing its in-flight mark when clearMark says so), as after any
// failed attempt that is not retried.
func (s *Session) reread(flight uint64, o outcome, clearMark bool) {
	if o.coordinated {
		s.keepOrRelease(0, clearMark)
		o.coordinated = false
	}
	ctx, cancel := s.storeCtx(context.Background())
	defer cancel()
	adopted, err := s.readNewer(ctx)
	if adopted {
		return
	}
	o.reread = states.RereadSame
	if err != nil {
		o.reread = states.RereadFailed
		s.mu.Lock()
		cur := s.tok
		s.mu.Unlock()
		o.rereadNote = serverText(newScrubber(cur.Access.Reveal(), cur.Refresh.Reveal()), err.Error(), maxCause)
		s.st.setErr(err)
		s.storeHook("reread", err)
	}
	s.mu.Lock()
	s.logLocked(slog.LevelInfo, "session: refresh token refused; the store holds no newer pair than the one refused",
		slog.String("cause", o.v.Cause), slog.Bool("store_read", err == nil))
	s.unlock()
	o.now = s.cfg.clock.Now()
	s.conclude(flight, o)
}

// readNewer reads the store (or the family's coordinator) and adopts the
// pair in it when another process wrote a newer one than the session's,
// and reports whether it did. With a coordinator a newer generation is
// newer (reconcile). A plain Store keeps no generation: its pair counts as
// newer when it is not the session's own (another access and another
// refresh token) and its access token expires later.
func (s *Session) readNewer(ctx context.Context) (bool, error) {
	if c := s.cfg.coord; c != nil {
		fam, err := c.Read(ctx)
		if err != nil {
			return false, err
		}
		return s.reconcile(ctx, fam, false), nil
	}
	if s.cfg.store == nil {
		return false, nil
	}
	t, err := s.cfg.store.Load(ctx)
	if errors.Is(err, ErrNoToken) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	cur := s.tok
	s.mu.Unlock()
	if t.Access == "" || t.Access == cur.Access || t.Refresh == cur.Refresh || !t.Expiry.After(cur.Expiry) {
		return false, nil
	}
	return s.adoptPair(t, s.gen.Load(), "pair saved to the store by another process"), nil
}
