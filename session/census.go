package session

import (
	"sync"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Census keeps what a metrics adapter's gauges need from the hooks of many
// sessions (contrib/prometheus and contrib/otel use it): how many open
// sessions are in each state, and the earliest access-token expiry among
// them. Install the Hooks of one Census in every session it should count,
// chained with others by ChainHooks. Hooks of one session arrive one at a
// time and in order; hooks of different sessions arrive concurrently, hence
// the lock. It is safe for concurrent use.
//
// The expiry of a session is known from Opened and from each successful
// refresh; after a SetToken or an adopted pair (whose expiry the hooks do
// not report) and while revoked, it is unknown until the next successful
// refresh.
type Census struct {
	mu     sync.Mutex
	counts []int64 // open sessions by state, indexed by states.State
	open   map[*tracked]struct{}
}

// tracked is one open session.
type tracked struct {
	state states.State
	// expiry is the access token's expiry, zero while unknown: before the
	// first successful refresh after a SetToken or an adopted pair (hooks
	// do not report their expiry), and while the session is revoked.
	expiry time.Time
}

// NewCensus returns an empty census.
func NewCensus() *Census {
	return &Census{counts: make([]int64, len(states.States())), open: make(map[*tracked]struct{})}
}

// view is one Hooks value's part of the census: the sessions it has seen,
// told apart by their ids (WithID).
type view struct {
	c    *Census
	byID map[string]*tracked // guarded by c.mu
	// pending is the expiry of a successful request not yet taken in: a
	// session reports the request (RequestDone) before the transition that
	// installs its token (Succeed), and may report it even before Opened.
	pending map[string]time.Time // guarded by c.mu
}

// Hooks returns hooks that keep the census up to date with the sessions
// they are installed in. Each call returns a value with its own record of
// ids: sessions installed with one value are told apart by their ids.
func (c *Census) Hooks() Hooks {
	v := &view{c: c, byID: make(map[string]*tracked), pending: make(map[string]time.Time)}
	return Hooks{Opened: v.opened, Closed: v.closed, Transition: v.transition, RequestDone: v.requestDone}
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
// states.State, and the earliest known access-token expiry among open
// sessions (zero when none is known).
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

func (v *view) opened(info SessionInfo) {
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

func (v *view) closed(info SessionInfo) {
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := v.byID[info.Session]; e != nil {
		c.remove(e)
		delete(v.byID, info.Session)
	}
	delete(v.pending, info.Session)
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
	switch {
	case r.To == states.Revoked:
		e.expiry = time.Time{}
		delete(v.pending, r.Session)
	case r.Event == states.Succeed:
		if exp, ok := v.pending[r.Session]; ok {
			e.expiry = exp
			delete(v.pending, r.Session)
		}
	case r.Event == states.SetToken || r.Event == states.Adopt:
		// A pair from outside: the hooks do not say when it expires.
		e.expiry = time.Time{}
		delete(v.pending, r.Session)
	}
}

func (v *view) requestDone(d RequestDone) {
	if d.Class != policy.OK || d.Expiry.IsZero() {
		return
	}
	v.c.mu.Lock()
	v.pending[d.Session] = d.Expiry
	v.c.mu.Unlock()
}
