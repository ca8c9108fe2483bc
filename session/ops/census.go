package ops

import (
	"sync"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// Census keeps what a metrics adapter's gauges need from the hooks of many
// sessions (contrib/prometheus and contrib/otel use it): how many open
// sessions are in each state, and the earliest access-token expiry among
// them. Install the Hooks of one Census in every session it should count,
// chained with others by hooks.Chain. Hooks of one session arrive one at a
// time and in order; hooks of different sessions arrive concurrently, hence
// the lock. It is safe for concurrent use.
//
// Every open session that holds a token counts in the earliest expiry:
// its expiry is known from Opened and from every token it installs
// (hooks.Hooks.TokenInstalled: a successful refresh, a pair adopted from the
// family another process refreshed, Session.SetToken). Only a session without a
// token and a revoked one (until its next installed token) count in no
// expiry, so with processes sharing one family (session.WithCoordinator) every
// process reports the token it holds, not only the one that refreshed.
type Census struct {
	mu     sync.Mutex
	counts []int64 // open sessions by state, indexed by states.State
	open   map[*tracked]struct{}
}

// tracked is one open session.
type tracked struct {
	state states.State
	// expiry is the access token's expiry; zero while the session holds
	// no token or is revoked.
	expiry time.Time
}

// NewCensus returns an empty census.
func NewCensus() *Census {
	return &Census{counts: make([]int64, len(states.States())), open: make(map[*tracked]struct{})}
}

// view is one Hooks value's part of the census: the sessions it has seen,
// told apart by their ids (session.WithID).
type view struct {
	c    *Census
	byID map[string]*tracked // guarded by c.mu
}

// Hooks returns hooks that keep the census up to date with the sessions
// they are installed in. Each call returns a value with its own record of
// ids: sessions installed with one value are told apart by their ids.
func (c *Census) Hooks() hooks.Hooks {
	v := &view{c: c, byID: make(map[string]*tracked)}
	return hooks.Hooks{Opened: v.opened, Closed: v.closed, Transition: v.transition, TokenInstalled: v.installed}
}

func (c *Census) add(s states.State, n int64) {
	if int(s) < len(c.counts) {
		c.counts[s] += n
	}
}

func (c *Census) remove(e *tracked) {
	c.add(e.state, -1)
	delete(c.open, e)
}

// Snapshot returns the number of open sessions per state, indexed by
// states.State, and the earliest access-token expiry among the open
// sessions that hold a token and are not revoked (zero when there is
// none).
func (c *Census) Snapshot() (counts []int64, earliest time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts = append([]int64(nil), c.counts...)
	for e := range c.open {
		if !e.expiry.IsZero() && (earliest.IsZero() || e.expiry.Before(earliest)) {
			earliest = e.expiry
		}
	}
	return counts, earliest
}

func (v *view) opened(info hooks.SessionInfo) {
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := v.byID[info.Session]; old != nil {
		// A second session with the same id on the same Hooks value: the
		// two cannot be told apart, so the first one is forgotten.
		c.remove(old)
	}
	e := &tracked{state: info.State, expiry: info.Expiry}
	if info.State == states.Revoked {
		e.expiry = time.Time{}
	}
	v.byID[info.Session] = e
	c.open[e] = struct{}{}
	c.add(e.state, 1)
}

func (v *view) closed(info hooks.SessionInfo) {
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := v.byID[info.Session]; e != nil {
		c.remove(e)
		delete(v.byID, info.Session)
	}
}

func (v *view) transition(r audit.Record) {
	if r.Note != "" {
		return // a note about the log, not a transition
	}
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := v.byID[r.Session]
	if e == nil {
		// A transition made while the session was being created: the
		// state Opened reports already includes it.
		return
	}
	c.add(e.state, -1)
	e.state = r.To
	c.add(e.state, 1)
	if r.To == states.Revoked {
		e.expiry = time.Time{}
	}
}

// installed takes in the expiry of a token the session installed, which
// arrives right after the Transition that installed it.
func (v *view) installed(t hooks.TokenInstalled) {
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// A token installed while the session was being created: the expiry
	// Opened reports already includes it.
	if e := v.byID[t.Session]; e != nil && e.state != states.Revoked {
		e.expiry = t.Expiry
	}
}
