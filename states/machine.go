package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// InputKind says what happened.
type InputKind uint8

const (
	// InWake: the wake-up armed at Effects.WakeAt is due (or any instant the
	// caller wants the machine to catch up with the clock).
	InWake InputKind = iota
	// InDemand: a caller needs a token. It starts a cycle from Expired.
	InDemand
	// InResult: the refresh in flight ended; see Input.Verdict.
	InResult
	// InReject: a resource server refused the current access token.
	InReject
	// InRevoke: the session is revoked explicitly.
	InRevoke
	// InSetToken: a token was supplied from outside (a re-login).
	InSetToken
	// InAccept: a resource server accepted the current access token. It
	// ends the probation of a token that a rejection's cycle obtained (it
	// changes no state and records no transition).
	InAccept
	// InAdopt: another process of the token family published a newer pair
	// (Issued, Expiry, Generation); it replaces this session's pair in any
	// state and ends a refresh in flight.
	InAdopt
	// InBusy: the refresh in flight (Flight) did not start because another
	// process holds the family's refresh lease until Until.
	InBusy
	// InLeaseFree: the lease a waiting session waits for was released (or
	// lapsed) without a new pair: the session takes over now.
	InLeaseFree
)

// Input is one thing that happened to a session.
type Input struct {
	Kind InputKind
	// Verdict is the classified outcome of the refresh (InResult).
	Verdict policy.Verdict
	// Flight is the flight number of the refresh the result belongs to
	// (InResult), from Effects.Flight.
	Flight uint64
	// Issued and Expiry describe the new token (InResult with policy.OK,
	// InSetToken, InAdopt).
	Issued, Expiry time.Time
	// Reason, when set, says why in the driver's terms: a failure that is
	// not the server's answer (InResult: ReasonThrottled, ReasonStoreDown,
	// ReasonLeaseLost, ReasonCrashedHolder; nothing was sent), the grant
	// that delivered a token (InResult with policy.OK: ReasonFallback), or
	// where a token came from (InSetToken: ReasonRestartStore, …).
	Reason Reason
	// Detail completes Reason, or the default reason of the input's kind:
	// the resource server's answer (InReject), the store's error.
	Detail string
	// Generation is the family's generation of an adopted pair (InAdopt).
	Generation uint64
	// Until is when another process's refresh lease lapses (InBusy).
	Until time.Time
}

// Transition is one change of state, with the reason for it.
type Transition struct {
	At       time.Time
	From, To State
	Event    Event
	// Reason says why, Detail completes it (see Cause).
	Reason Reason
	Detail string
	// Generation is the family's generation of an adopted pair.
	Generation uint64
	// Sent reports that the transition ends an attempt whose request was
	// sent (or tried: a refused connection counts); Class is then the
	// class of its outcome, as the machine took it.
	Sent  bool
	Class policy.Class
	// Attempt is the number of the attempt that starts or ends with this
	// transition (0 for transitions outside a refresh).
	Attempt int
	// NextAt is when the next attempt is due (Fail), or when the next cycle
	// starts (Postpone); zero otherwise.
	NextAt time.Time
}

// Cause returns the transition's reason in words, without secrets: "502
// Bad Gateway", "access token expired".
func (t Transition) Cause() string { return format(t.Reason, t.Detail, t.Generation) }

// maxTransitions bounds the transitions one Step can make (set_token with an
// expired token, then expire and refresh).
const maxTransitions = 3

// Effects is what the caller must do after a Step.
type Effects struct {
	// StartRefresh asks the caller to send one refresh request now, tagged
	// with Flight, and to feed its result back as InResult.
	StartRefresh bool
	Flight       uint64
	// WakeAt is when the caller must feed InWake next; zero means no timer.
	WakeAt time.Time
	n      int
	trans  [maxTransitions]Transition
}

// Transitions returns the transitions the step made, oldest first, to be
// recorded by the caller. The slice aliases e.
func (e *Effects) Transitions() []Transition { return e.trans[:e.n] }

// Step applies in at now to d and returns the next data and the effects the
// caller must perform. It is a pure function of its arguments.
func (m *Machine) Step(d Data, in Input, now time.Time) (Data, Effects) {
	var fx Effects
	m.Apply(&d, &in, now, &fx)
	return d, fx
}

// Apply is Step in place, for hot loops such as the simulator's: it updates
// *d and overwrites *fx, and reads *in without retaining it.
func (m *Machine) Apply(d *Data, in *Input, now time.Time, fx *Effects) {
	fx.StartRefresh, fx.Flight, fx.n = false, 0, 0
	switch in.Kind {
	case InWake, InDemand:
		m.advance(d, fx, now, in.Kind == InDemand)
	case InResult:
		if d.state == Refreshing && in.Flight == d.flight {
			m.result(d, fx, in, now)
		}
	case InReject:
		if d.state == Revoked || d.rejected {
			break
		}
		d.rejected = true
		if d.state != Valid {
			break
		}
		if d.probation && (d.shortLived() || now.Sub(d.issued) < FreshWindow) {
			// Another token would most likely be refused as well (a wrong
			// audience or scope, a skewed clock): this is a failed attempt
			// of the rejection's cycle, paced by the policy.
			m.failLate(d, fx, ReasonRejectedAgain, in.Detail, now)
			break
		}
		fire(d, fx, Reject, ReasonRejected, in.Detail, now)
		m.startCycle(d, fx, Refresh, ReasonRejected, now)
		d.rejectCycle = true
	case InAccept:
		if d.state == Valid && d.probation && !d.shortLived() {
			d.probation, d.rejectCycle = false, false
			d.attempt, d.prevDelay = 0, 0
		}
	case InRevoke:
		if d.state != Revoked {
			d.reason, d.detail = ReasonRevokeCalled, in.Detail
			d.nextAt = time.Time{}
			fire(d, fx, Revoke, ReasonRevokeCalled, in.Detail, now)
		}
	case InSetToken, InAdopt:
		d.issued, d.expiry = in.Issued, in.Expiry
		d.rejected, d.postponed, d.maybeConsumed = false, false, false
		d.rejectCycle, d.probation, d.suspectN = false, false, 0
		d.attempt, d.prevDelay, d.reason, d.detail = 0, 0, ReasonNone, ""
		d.flight++ // a refresh still in flight is stale now
		ev, why := SetToken, ReasonSetToken
		if in.Reason != ReasonNone {
			why = in.Reason
		}
		if in.Kind == InAdopt {
			ev, why = Adopt, ReasonAdopted
		}
		if tr := fire(d, fx, ev, why, in.Detail, now); tr != nil {
			tr.Generation = in.Generation
		}
		d.nextAt = m.refreshPoint(d)
		m.advance(d, fx, now, false)
	case InLeaseFree:
		if d.state == Waiting {
			d.nextAt = now
			m.advance(d, fx, now, false)
		}
	case InBusy:
		if d.state == Refreshing && in.Flight == d.flight {
			// Serve a still-valid token meanwhile; callers without one wait
			// for the holder's pair, as during a refresh of their own.
			d.nextAt = in.Until
			fire(d, fx, Wait, ReasonLeaseBusy, "", now)
		}
	}
	fx.WakeAt = d.nextAt
}

// advance moves the session along the clock: expiry, the refresh-ahead
// point, a due retry, and (on demand) a new cycle from Expired.
func (m *Machine) advance(d *Data, fx *Effects, now time.Time, demand bool) {
	switch d.state {
	case Valid:
		if !d.Usable(now) {
			if d.probation && d.shortLived() {
				m.failLate(d, fx, ReasonShortLived, d.expiry.Sub(d.issued).String(), now)
				return
			}
			fire(d, fx, Expire, ReasonExpired, "", now)
			m.startCycle(d, fx, Refresh, ReasonExpired, now)
			return
		}
		// In Valid, nextAt holds the refresh point once it is known.
		p := d.nextAt
		if p.IsZero() {
			p = m.refreshPoint(d)
		}
		if !now.Before(p) {
			m.startCycle(d, fx, RefreshAhead, ReasonRefreshAhead, now)
			return
		}
		d.nextAt = p
	case Expired:
		if demand {
			m.startCycle(d, fx, Refresh, ReasonDemanded, now)
		}
	case Backoff, Waiting:
		if !d.nextAt.IsZero() && !now.Before(d.nextAt) {
			d.attempt++
			d.nextAt = time.Time{}
			d.flight++
			fx.StartRefresh, fx.Flight = true, d.flight
			if d.state == Waiting {
				fire(d, fx, TakeOver, ReasonLeaseFree, "", now)
			} else {
				fire(d, fx, Retry, ReasonRetryDue, "", now)
			}
		}
	}
}

func (m *Machine) startCycle(d *Data, fx *Effects, ev Event, why Reason, now time.Time) {
	d.attempt, d.cycleStart, d.prevDelay, d.maybeConsumed = 1, now, 0, false
	d.rejectCycle, d.probation = false, false
	d.nextAt = time.Time{}
	d.flight++
	fx.StartRefresh, fx.Flight = true, d.flight
	fire(d, fx, ev, why, "", now)
}

func (m *Machine) result(d *Data, fx *Effects, in *Input, now time.Time) {
	v := in.Verdict
	d.confirm(&v)
	sent := true
	why, detail := failReason(v), v.Cause
	switch in.Reason {
	case ReasonThrottled, ReasonLeaseLost, ReasonCrashedHolder:
		sent, why, detail = false, in.Reason, ""
	case ReasonStoreDown:
		sent, why, detail = false, in.Reason, in.Detail
	case ReasonFallback, ReasonFallbackClient, ReasonFallbackDead, ReasonFallbackOrphan:
		why, detail = ReasonFallbackFailed, fallbackDetail(in.Reason, in.Detail, v.Cause)
	}
	if v.Class == policy.OK {
		switch {
		case !in.Expiry.After(now):
			v, why, detail = policy.Verdict{Class: policy.Transient, MaybeProcessed: true}, ReasonAnswerExpired, ""
		case !d.expiry.IsZero() && !in.Expiry.After(d.expiry):
			v, why, detail = policy.Verdict{Class: policy.Transient, MaybeProcessed: true}, ReasonExpiryStuck, ""
		default:
			d.issued, d.expiry = in.Issued, in.Expiry
			d.rejected, d.postponed = false, false
			why, detail = ReasonNone, ""
			if isFallback(in.Reason) {
				why = in.Reason
			}
			if why == ReasonFallback || why == ReasonFallbackClient {
				// Say why the fallback was needed, including a lost answer
				// that probably consumed the refresh token.
				detail = "the refresh token was refused (" + in.Detail + ")"
				if why == ReasonFallbackClient {
					detail = "the client was refused (" + in.Detail + ")"
				}
				if note := d.consumedNote(); note != "" {
					detail += ": " + note
				}
			}
			d.maybeConsumed, d.suspectN = false, 0
			d.reason, d.detail = ReasonNone, ""
			if tr := fire(d, fx, Succeed, why, detail, now); tr != nil {
				tr.Sent, tr.Class = true, policy.OK
			}
			d.probation = d.rejectCycle || d.shortLived()
			if !d.probation {
				d.attempt, d.prevDelay = 0, 0
			}
			d.nextAt = m.refreshPoint(d)
			return
		}
	}
	if v.Class == policy.Permanent {
		detail = joined(detail, ": ", d.consumedNote())
		d.reason, d.detail, d.nextAt = why, detail, time.Time{}
		if tr := fire(d, fx, Deny, why, detail, now); tr != nil {
			tr.Sent, tr.Class = sent, v.Class
		}
		return
	}
	m.failed(d, fx, v, why, detail, sent, now)
}

// failLate fails the attempt that yielded a token on probation, which died
// or was rejected before proving itself.
func (m *Machine) failLate(d *Data, fx *Effects, why Reason, detail string, now time.Time) {
	d.probation = false
	m.failed(d, fx, policy.Verdict{Class: policy.Transient}, why, detail, false, now)
}

// failed schedules the next attempt after a transient failure v, as the
// policy says, or ends the cycle. sent reports that v answers a request.
func (m *Machine) failed(d *Data, fx *Effects, v policy.Verdict, why Reason, detail string, sent bool, now time.Time) {
	d.reason, d.detail = why, detail
	d.maybeConsumed = d.maybeConsumed || v.MaybeProcessed
	if v.Class != policy.Suspect {
		d.suspectN = 0
	}
	delay, again := m.policy.Delay(policy.Attempt{
		N: d.attempt, Elapsed: now.Sub(d.cycleStart), Prev: d.prevDelay, Rand: d.rand.Uint64(),
	})
	if ra := min(v.RetryAfter, m.maxRetryAfter); ra > delay {
		delay = ra
	}
	var tr *Transition
	switch {
	case again:
		d.prevDelay = delay
		d.nextAt = now.Add(delay)
		tr = fire(d, fx, Fail, why, detail, now)
	case d.Usable(now):
		d.postponed = true
		d.nextAt = d.expiry
		tr = fire(d, fx, Postpone, why, detail, now)
		d.attempt = 0
	default:
		d.nextAt = time.Time{}
		tr = fire(d, fx, GiveUp, why, detail, now)
	}
	if tr != nil {
		tr.Sent, tr.Class = sent, v.Class
	}
}

// refreshPoint is when a valid token's refresh cycle starts. A short-lived
// token is served to its end: refreshing it ahead would only shorten it.
func (m *Machine) refreshPoint(d *Data) time.Time {
	if m.refreshAhead <= 0 || d.postponed || d.shortLived() {
		return d.expiry
	}
	p := d.expiry.Add(-m.refreshAhead)
	if half := d.issued.Add(d.expiry.Sub(d.issued) / 2); p.Before(half) {
		p = half
	}
	return p
}

// fire makes the transition ev from d.state, as the table allows, records
// it, and returns the record (nil when none was made).
func fire(d *Data, fx *Effects, ev Event, why Reason, detail string, now time.Time) *Transition {
	to, ok := Next(d.state, ev)
	if !ok || fx.n == maxTransitions {
		// Unreachable by construction; the property tests check that every
		// recorded transition is legal and that states follow the records.
		return nil
	}
	tr := &fx.trans[fx.n]
	*tr = Transition{At: now, From: d.state, To: to, Event: ev, Reason: why, Detail: detail}
	if to == Refreshing || d.state == Refreshing || ev == Fail || ev == GiveUp {
		tr.Attempt = d.attempt
	}
	if ev == Fail || ev == Postpone {
		tr.NextAt = d.nextAt
	}
	fx.n++
	d.state = to
	return tr
}
