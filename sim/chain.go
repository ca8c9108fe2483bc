package sim

import (
	"math"
	"time"

	"github.com/authfsm/authfsm/states"
)

// Periodic calls in closed form.
//
// A periodic workload entry's calls are a chain per session, one period
// apart. Most of them change nothing: the token is valid and accepted
// (plain: counted), or the session has none and waits for a retry or an
// answer, so that the call only fails (failing: counted as failed). Between
// two of the session's own events nothing can change which of the two a
// call is, except the instant it ends (plainUntil's, or the session's next
// attempt), so the engine does not make those calls events: it counts them
// arithmetically when the session's next event comes (settle), or at the
// end of the run, and queues an event only for the first call that may be
// something else (reconsider). Calls that do change something, bursts, and
// the calls of an entry whose key could not be kept (order.go) remain
// events, as they always were; the results are byte for byte those of an
// event per call (TestEnginesAgree).

// chain is the state of one session's calls of one periodic entry.
type chain struct {
	// next is the instant of the next call neither made nor counted
	// (math.MaxInt64 when there is none); ev that of the chain's event in
	// the queue, or -1. The calls in [next, ev) are counted in mode.
	next, ev int64
	rank     uint32 // its place among its period's entries (order.go)
	mode     uint8
}

// The modes of a chain.
const (
	modeFirst   uint8 = iota // the next call is the first, an event
	modeEvent                // the next call is an event
	modeWait                 // an event of the session comes before the next call, and decides
	modePlain                // the calls before ev are plain: counted
	modeFailing              // the calls before ev fail at once: counted as failed
)

// reqEntry describes a periodic workload entry.
type reqEntry struct {
	// every is its period; to is when its calls stop, end the same
	// bounded by the run's end.
	every, to, end int64
	// j is the index of its period in the queue's order.periods, or -1
	// when its calls are events.
	j int
}

// initChains sets up the periodic entries and their chains. Their calls
// are counted in closed form unless cf is false, or their period is that
// of an entry whose first call comes a period or more after its session
// begins: then no rank orders that period's calls (order.go).
func (r *run) initChains(cf bool) {
	for _, w := range r.sc.Workload {
		if w.Kind == WorkRequests {
			r.reqs = append(r.reqs, reqEntry{every: int64(w.Every), to: int64(w.To), end: min(int64(w.To), r.end), j: -1})
		}
	}
	if len(r.reqs) == 0 {
		return
	}
	if len(r.reqs) > 1 {
		r.chains = make([]chain, len(r.ss)*(len(r.reqs)-1))
		adviseHuge(r.chains)
	}
	if !cf {
		return
	}
	for kr := range r.reqs {
		re := &r.reqs[kr]
		if !closedForm(r.sc, time.Duration(re.every)) {
			continue
		}
		re.j = len(r.q.order.periods)
		for j, p := range r.q.order.periods {
			if p == re.every {
				re.j = j
			}
		}
		if re.j == len(r.q.order.periods) {
			r.q.order.periods = append(r.q.order.periods, re.every)
			r.q.order.lastFirst = append(r.q.order.lastFirst, 0)
		}
		r.cf = true
	}
	if r.cf {
		r.q.order.created = make([]int64, 0, len(r.ss)*len(r.reqs))
	}
}

// chain returns session s's chain of periodic entry kr: the first in the
// session, where its events find it, the others in the order of the
// sessions' slots.
func (r *run) chain(s *session, kr int) *chain {
	if kr == 0 {
		return &s.c0
	}
	return &r.chains[int(s.slot)*(len(r.reqs)-1)+kr-1]
}

// settle counts the calls of session i's chains that the event being
// processed follows: those of earlier instants, and at its instant those
// whose key is less than its.
func (r *run) settle(i uint32, s *session) {
	now, cur := r.q.now, r.q.order.cur
	for kr := range r.reqs {
		c := r.chain(s, kr)
		if c.mode < modePlain {
			continue
		}
		re := &r.reqs[kr]
		upTo := now // the calls before it are counted
		if (key{now, now - re.every, uint64(c.rank+1) << 33}).less(cur) {
			upTo = now + 1
		}
		r.count(c, re, upTo)
	}
}

// count counts chain c's calls before upTo, and before its event.
func (r *run) count(c *chain, re *reqEntry, upTo int64) {
	hi := min(upTo, re.end)
	if c.ev >= 0 {
		hi = min(hi, c.ev)
	}
	if c.next >= hi {
		return
	}
	n := (hi - c.next + re.every - 1) / re.every
	r.stats.Requests += n
	if c.mode == modeFailing {
		r.stats.FailedRequests += n
		if r.tl != nil {
			r.tl.failedSpan(c.next, re.every, n)
		}
	}
	c.next += n * re.every
}

// reconsider decides, after an event of session i, how each of its chains
// goes on from its next call: counted in closed form until the first call
// that may be something else, or an event at once. That call is queued
// unless an event of the session comes first (which decides again): in a
// day without faults a session's wake-ups and answers come before each of
// its tokens ends, and through an outage its retries come more often than
// its calls, or its calls fail at once between them, so that its calls
// are seldom events. A chain's event queued earlier stays when it comes no
// later: that call is then made and decides again.
func (r *run) reconsider(i uint32, s *session) {
	for kr := range r.reqs {
		re := &r.reqs[kr]
		c := r.chain(s, kr)
		if re.j < 0 || c.mode == modeFirst || c.next >= re.end {
			continue
		}
		if r.eventBefore(s, c.next) {
			c.mode, c.ev = modeWait, -1
			continue
		}
		mode, until := r.classify(i, s, c.next)
		c.mode = mode
		want := c.next
		if mode != modeEvent {
			if until != math.MaxInt64 && until > c.next {
				want += (until - c.next + re.every - 1) / re.every * re.every
			}
			if until == math.MaxInt64 || want >= re.end || r.eventBefore(s, want) {
				c.ev = -1 // an event queued before is stale
				continue
			}
		}
		if c.ev < 0 || want < c.ev {
			r.q.pushCall(want, re.every, c.rank, i, uint64(s.slot)<<32|uint64(kr))
			c.ev = want
		}
	}
}

// eventBefore reports whether an event of session s is queued before t:
// its wake-up, or the answer it awaits, which comes within the request's
// timeout (or now, for an attempt not sent).
func (r *run) eventBefore(s *session, t int64) bool {
	return s.wakeAt >= 0 && s.wakeAt < t || s.awaiting && max(s.sentAt+r.timeout, r.q.now) < t
}

// classify returns how the calls of session s from t on go, and until when
// at most, as long as nothing else happens to it: plain until plainUntil;
// failing at once, without changing anything, while its process is down,
// or while it holds no usable token and a demand for one starts nothing
// (a refresh in flight, a retry or another process's refresh awaited,
// revoked, a pair or a login from outside awaited), with no wait for a
// token, until
// its next attempt; else an event.
func (r *run) classify(i uint32, s *session, t int64) (mode uint8, until int64) {
	if p := s.plainTo; t < p {
		return modePlain, p
	}
	if !r.failingCounted(i) {
		return modeEvent, t
	}
	if s.down {
		return modeFailing, math.MaxInt64
	}
	d := &s.d
	if r.wait != 0 || t < s.usableEnd || d.Usable(r.clock(t)) {
		return modeEvent, t
	}
	switch d.State() {
	case states.Refreshing, states.Backoff, states.Waiting, states.Revoked:
	case states.NeedsLogin:
		// Waiting for a login from outside (fleet.login: outside); its own
		// login (states.LoginOwn), which a demand starts, the model has
		// not.
		if r.sc.Fleet.Login == states.LoginOwn {
			return modeEvent, t
		}
	case states.Expired:
		if !d.AwaitsPair() {
			return modeEvent, t
		}
	default:
		return modeEvent, t
	}
	if d.NextAt().IsZero() {
		return modeFailing, math.MaxInt64
	}
	if next := r.virtual(d.NextAt()); next > t {
		return modeFailing, next
	}
	return modeEvent, t
}

// failingCounted reports whether session i's failed calls may be counted
// in closed form: unless the timeline draws its rows, which mark each
// (a fleet's picture counts the others' by bin), or the session whose
// failed call goes over max_failed_requests is still to be found.
func (r *run) failingCounted(i uint32) bool {
	return (r.tl == nil || r.tl.fleet() && int(i) != r.tl.one) && (r.blame.failed >= 0 || r.blame.failedLimit == math.MaxInt64)
}

// settleAll counts every chain's calls that the event being processed
// follows (a fault that changes every session's calls, the run's end).
func (r *run) settleAll() {
	for i := range r.ss {
		r.settle(uint32(i), r.sess(uint32(i)))
	}
}

// reconsiderAll reconsiders every session's chains.
func (r *run) reconsiderAll() {
	for i := range r.ss {
		r.reconsider(uint32(i), r.sess(uint32(i)))
	}
}

// countRest counts, at the run's end, the calls of every chain not counted
// yet.
func (r *run) countRest() {
	for i := range r.ss {
		for kr := range r.reqs {
			if c := r.chain(&r.ss[i], kr); c.mode >= modePlain {
				r.count(c, &r.reqs[kr], math.MaxInt64)
			}
		}
	}
}

// closedForm reports whether the calls of sc's periodic entries of period
// every are counted in closed form: unless one of them makes its first
// call a period or more after its session begins (initChains).
func closedForm(sc *Scenario, every time.Duration) bool {
	for _, w := range sc.Workload {
		if w.Kind == WorkRequests && w.Every == every && w.From >= w.Every {
			return false
		}
	}
	return true
}
