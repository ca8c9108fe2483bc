package agent

import (
	"context"
	"sync"
	"time"

	"github.com/authfsm/authfsm/session"
)

// Handover is how long before a token's session.Token.ServeUntil (the
// session's refresh point, or its expiry when no refresh is planned) the
// agent stops handing the token out through /v1/token, and so the
// instant it advertises as expires_at (an ExecCredential's
// expirationTimestamp, git's password_expiry_utc). Servers such as Ory
// Hydra and fosite revoke the previous access token when it is refreshed:
// a client that received it in the last moment before the refresh would
// present it after. The handover gives the client that long to get its
// request to the server, and a client that asks within it waits for the
// new token instead (see serve). A token served for less than twice the
// Handover gets half its serving time instead.
const Handover = time.Second

// handover returns the handover of tok: Handover, or half of the time tok
// is served, when that is shorter.
func handover(tok session.Token) time.Duration {
	span := servedUntil(tok).Sub(tok.Issued)
	if tok.Issued.IsZero() || span <= 0 {
		return 0
	}
	return min(Handover, span/2)
}

// servedUntil is tok's ServeUntil, or its expiry when the session did not
// say (never later).
func servedUntil(tok session.Token) time.Time {
	if tok.ServeUntil.IsZero() || tok.ServeUntil.After(tok.Expiry) {
		return tok.Expiry
	}
	return tok.ServeUntil
}

// advertised is the instant the agent stops handing tok out: its
// ServeUntil less its handover, and never after its expiry. It is
// already past when tok was served while its replacement was under way
// and the agent's wait for it ran out.
func advertised(tok session.Token) time.Time {
	return servedUntil(tok).Add(-handover(tok))
}

// changes wakes the goroutines waiting for the session's next transition
// (hooks.Hooks.Transition calls notify).
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

// next returns a channel closed at the next transition. Taken before the
// session is asked for its token, it misses no transition after the
// answer.
func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *changes) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// serve returns the token /v1/token hands out: the session's (see token),
// unless its advertised instant has passed — the session's refresh (or
// its next attempt, or its expiry) is less than the handover away, or a
// refresh, this process's or another's, is under way. The agent then
// waits for the new token, as long as the handover lasts plus one
// request_timeout, so that no client gets a token that the refresh about
// to end revokes at servers that revoke the previous access token. When
// that wait runs out (a slow or failing refresh), the still-valid token is
// served, advertised until an instant already past: the client uses it
// once and asks again.
func (p *profile) serve(ctx context.Context) (session.Token, error) {
	var deadline time.Time
	for {
		changed := p.changes.next()
		tok, err := p.token(ctx)
		if err != nil {
			return tok, err
		}
		now := p.clock.Now()
		stop := advertised(tok)
		if now.Before(stop) {
			return tok, nil
		}
		if deadline.IsZero() {
			deadline = now.Add(handover(tok) + p.cfg.Session.RequestTimeout)
			p.n.handovers.Add(1)
		}
		if !now.Before(deadline) {
			return tok, nil
		}
		// Woken by the session's next transition (the refresh starts at
		// ServeUntil, and ends), or at the deadline.
		t := p.clock.Timer(deadline.Sub(now))
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return tok, nil // the caller is gone; the answer goes nowhere
		}
		t.Stop()
	}
}
