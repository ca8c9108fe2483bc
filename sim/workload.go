package sim

import (
	"math"
	"time"

	"github.com/authfsm/authfsm/states"
)

// Causes the model's resource server gives for a 401. They are constants:
// the hot path allocates nothing.
const (
	causeServerExpired = "401 Unauthorized from the resource server: access token expired by the server's clock"
	causeRejected      = "401 Unauthorized from the resource server: access token rejected"
	causeRejectsAll    = "401 Unauthorized from the resource server: every access token rejected"
)

// scheduleWork queues session i's first call of each workload entry. A
// periodic entry runs on the session's own phase (its start), so a spread
// fleet does not call in lockstep; its calls are a chain (chain.go).
func (r *run) scheduleWork(i uint32, s *session) {
	kr := 0
	for k, w := range r.sc.Workload {
		switch w.Kind {
		case WorkRequests:
			c, re := r.chain(s, kr), &r.reqs[kr]
			aux := uint64(s.slot)<<32 | uint64(kr)
			kr++
			c.next, c.ev, c.mode = math.MaxInt64, -1, modeEvent
			t := s.start + int64(w.From)
			if t >= int64(w.To) {
				continue
			}
			c.next, c.ev, c.mode = t, t, modeFirst
			if re.j >= 0 {
				c.rank = uint32(len(r.q.order.created))
				r.q.order.created = append(r.q.order.created, s.start)
			}
			r.q.push(t, evCall, i, aux)
		case WorkBurst:
			if int64(w.At) >= s.start {
				r.q.push(int64(w.At), evBurst, i, uint64(k))
			}
		}
		// A login (WorkLogin) is the run's, not a session's: see login.
	}
}

// periodicCall makes session i's call of periodic entry kr at t, the
// instant of its event (aux: slot<<32 | kr), and queues the next: an entry
// whose calls are events schedules it first, as the engine always did,
// and when no entry is counted in closed form the call is made without
// touching the session while it is plain; one counted in closed form
// decides afterwards whether the next is an event or counted
// (reconsider).
func (r *run) periodicCall(i uint32, aux uint64, t int64) {
	kr, slot := int(uint32(aux)), uint32(aux>>32)
	re := &r.reqs[kr]
	if !r.cf {
		if next := t + re.every; next < re.to {
			r.q.push(next, evCall, i, aux)
		}
		r.calls(i, slot, 1, t)
		return
	}
	s := r.sess(i)
	c := r.chain(s, kr)
	if c.ev != t {
		return // a checkpoint moved earlier since
	}
	if re.j < 0 {
		c.ev = -1
		if next := t + re.every; next < re.to {
			r.q.push(next, evCall, i, aux)
			c.ev = next
		}
		r.settle(i, s)
		r.calls(i, slot, 1, t)
		r.reconsider(i, s)
		return
	}
	if c.mode == modeFirst {
		r.q.firstCall(re.j, c.rank)
	}
	r.settle(i, s)
	c.mode, c.ev, c.next = modeEvent, -1, t+re.every
	r.calls(i, s.slot, 1, t)
	r.reconsider(i, s)
}

// calls makes n calls of session i, whose slot in plainTo is slot, at t:
// plain ones are only counted, without touching the session when no calls
// are counted in closed form (whose events are the session's anyway); the
// others go through call, after which the session's plain instant is
// brought up to date.
func (r *run) calls(i, slot uint32, n int64, t int64) {
	if r.plainTo == nil {
		r.call(i, n, t)
		return
	}
	if r.cf {
		if s := r.sess(i); t < s.plainTo {
			r.stats.Requests += n
			return
		}
	} else if t < r.plainTo[slot] {
		r.stats.Requests += n
		return
	}
	r.call(i, n, t)
	s := r.sess(i)
	r.setPlain(s, r.plainUntil(i, s, t))
}

// setPlain sets the instant until which session s's calls are plain:
// in the session, and for calls made without touching it (when none are
// counted in closed form) in plainTo.
func (r *run) setPlain(s *session, until int64) {
	s.plainTo = until
	if !r.cf {
		r.plainTo[s.slot] = until
	}
}

// plainUntil returns the instant until which session i's calls are plain
// (see call and judge): its process is up, it holds a usable token that is
// not on probation, which the resource server has not rejected and will
// accept until then (before its expiry by the server's clock and before
// the next reject_access window); 0 when they are not plain now. Whatever
// may end that sooner (a step of the machine, a crash, a reject_access
// instant) brings the instant up to date or resets it.
func (r *run) plainUntil(i uint32, s *session, t int64) int64 {
	d := &s.d
	if st := d.State(); r.plainTo == nil || s.down || d.Probation() || d.Rejected() || st == states.Revoked ||
		st == states.NeedsLogin || st == states.LoggingIn || d.Expiry().IsZero() {
		return 0
	}
	if r.kinds&(1<<FaultRejectAccess) != 0 && s.tokGen <= r.fams[r.famOf(i)].rejGen {
		return 0
	}
	until := min(r.virtual(d.Expiry()), s.tokIssued+r.ttl)
	for k := range r.rejectWindows {
		if f := &r.rejectWindows[k]; int64(f.To) > t {
			until = min(until, int64(f.From))
		}
	}
	return until
}

// call makes n concurrent application calls of session i at t. With a
// usable token they go to the resource server; without one they demand a
// token and wait for it up to wait_for_refresh, or fail at once.
func (r *run) call(i uint32, n int64, t int64) {
	s := r.sess(i)
	r.stats.Requests += n
	if s.down {
		// The process is down: its calls fail.
		r.fail(i, n, t)
		return
	}
	now := r.clock(t)
	if s.d.Usable(now) {
		r.judge(i, s, n, t)
		return
	}
	if t < s.usableEnd {
		r.inv.violate(t, i, "a still-valid token keeps being served", "a call found no usable token before the token's expiry")
	}
	expired := s.d.State() == states.Expired && !s.d.AwaitsPair()
	fx := r.step(i, s, states.Input{Kind: states.InDemand}, t)
	if expired && !fx.StartRefresh {
		r.inv.violate(t, i, "exhausting a policy is not revocation", "a demand in expired did not start a new cycle")
	}
	if r.wait == 0 || s.down { // a process that crashed on the refresh takes its calls down with it
		r.fail(i, n, t)
		return
	}
	s.waitTicket += uint64(n)
	r.q.push(t+r.wait, evWaitTimeout, i, s.waitTicket)
}

// judge sends n calls of session i with its token to the resource server,
// which judges the token by its own clock: an expired or rejected token
// gets 401, a failed call, and a rejection fed to the session. An accepted
// token on probation is reported to the session, as the runtime's
// Transport does.
func (r *run) judge(i uint32, s *session, n int64, t int64) {
	cause := ""
	switch {
	case t >= s.tokIssued+r.ttl:
		cause = causeServerExpired
	case r.kinds&(1<<FaultRejectAccess) != 0 && s.tokGen <= r.fams[r.famOf(i)].rejGen:
		// (Only then: the family's record is one more cache miss per call.)
		cause = causeRejected
	case r.rejectsAll(t):
		cause = causeRejectsAll
	default:
		if s.d.Probation() {
			r.step(i, s, states.Input{Kind: states.InAccept}, t)
		}
		return
	}
	r.fail(i, n, t)
	s.usableEnd = min(s.usableEnd, t)
	r.step(i, s, states.Input{Kind: states.InReject, Detail: cause}, t)
}

// waitTimeout fails the waiting calls of session i up to ticket that did
// not get a token in time.
func (r *run) waitTimeout(i uint32, ticket uint64, t int64) {
	s := r.sess(i)
	if done := max(s.served, s.timedOut); ticket > done {
		s.timedOut = ticket
		r.fail(i, int64(ticket-done), t)
	}
}

// rejectsAll reports whether a reject_access window covers t: the resource
// server then refuses every token (a wrong audience, a skewed clock).
func (r *run) rejectsAll(t int64) bool {
	for i := range r.sc.Server.Faults {
		if f := &r.sc.Server.Faults[i]; f.Kind == FaultRejectAccess && !f.Instant && f.covers(time.Duration(t)) {
			return true
		}
	}
	return false
}

// rejectAccess makes the resource server refuse every access token current
// at t (docs/SCENARIOS.md: reject_access): every token issued so far.
func (r *run) rejectAccess() {
	for i := range r.fams {
		r.fams[i].rejGen = r.fams[i].tokSeq
	}
	clear(r.plainTo)
	for i := range r.ss {
		r.ss[i].plainTo = 0
	}
}
