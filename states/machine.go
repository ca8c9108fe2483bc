package states

import (
	"math/rand/v2"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Data is one session as the machine sees it. It is a value: Step returns
// the next Data and never retains it.
type Data struct {
	State State
	// Issued and Expiry bound the current access token's life on the
	// client's clock; a zero Expiry means the session holds no token.
	Issued, Expiry time.Time
	// Rejected records that a resource server refused the current token.
	Rejected bool
	// Postponed records that a refresh-ahead cycle gave up while the token
	// was valid: the next cycle starts at expiry, not at the refresh point.
	Postponed bool
	// Attempt is the number of the current or last attempt of the cycle under
	// way (a token on probation included), or of the cycle that gave up; 0
	// after a success that closed its cycle.
	Attempt int
	// CycleStart is when the cycle's first attempt started.
	CycleStart time.Time
	// PrevDelay is the last delay the policy chose in this cycle.
	PrevDelay time.Duration
	// NextAt is the instant of the next wake-up (refresh point, expiry or
	// retry); zero when none is due.
	NextAt time.Time
	// Cause says why the last attempt failed or the session was revoked; it
	// is empty after a success.
	Cause string
	// MaybeConsumed records that an attempt of this cycle may have been
	// performed by the server although its answer was lost.
	MaybeConsumed bool
	// Suspects counts the Suspect refusals (policy.Suspect) that the last
	// attempts met in a row with the same cause (Cause); at
	// policy.SuspectRepeats the refusal is final and revokes. Any other
	// outcome, a new token or a re-login resets it; a new cycle does not.
	Suspects uint8
	// RejectCycle records that the cycle under way was opened by a
	// resource server's rejection of the token.
	RejectCycle bool
	// Probation records that the current token came from a cycle that is
	// not closed yet: the cycle was opened by a rejection, or the token
	// lives less than MinLifetime. Attempt, CycleStart and PrevDelay are
	// kept, and a rejection of the token (or, for a short-lived one, its
	// death) fails the cycle's attempt, so the retry policy paces the next
	// one instead of a new cycle starting at once. A resource server's
	// acceptance of the token (InAccept) or the refresh-ahead point ends
	// probation.
	Probation bool
	// Flight identifies the refresh request in flight; a result carrying
	// another flight number is stale and ignored.
	Flight uint64
	// Rand is the session's seeded random source, for jitter.
	Rand rand.PCG
}

// NewData returns the data of a session seeded with seed. Without a token
// (zero expiry) the session starts Expired and refreshes on first demand.
func NewData(seed uint64, issued, expiry time.Time) Data {
	d := Data{State: InitialState, Issued: issued, Expiry: expiry}
	d.Rand.Seed(seed, seed^0x9e3779b97f4a7c15)
	if expiry.IsZero() {
		d.State = Expired
	}
	return d
}

// Usable reports whether the session holds a token that may be sent at now.
func (d *Data) Usable(now time.Time) bool {
	return d.State != Revoked && !d.Expiry.IsZero() && now.Before(d.Expiry) && !d.Rejected
}

// ServeUntil is the instant until which a caller may keep using the
// current token without asking the session again: the refresh point while
// the session is Valid (it plans to replace the token then, and servers
// that revoke the previous access token at a refresh, such as Ory Hydra
// and fosite, refuse it from that moment), the next attempt while a failed
// cycle waits in Backoff, and now while a refresh is in flight or another
// process's is awaited; never later than Expiry, which it is when no
// replacement is planned. It is zero when no token is usable at now.
func (d *Data) ServeUntil(now time.Time) time.Time {
	if !d.Usable(now) {
		return time.Time{}
	}
	at := d.Expiry
	switch d.State {
	case Refreshing, Waiting:
		at = now
	case Valid, Backoff:
		if !d.NextAt.IsZero() && d.NextAt.Before(at) {
			at = d.NextAt
		}
	}
	return at
}

// ConsumedNote explains a refusal of the refresh token that follows a
// possibly lost answer in the same cycle, or returns "" when there was none.
func (d *Data) ConsumedNote() string {
	if !d.MaybeConsumed {
		return ""
	}
	return "refresh token probably consumed by a refresh whose answer was lost (" + d.Cause + ")"
}

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
	// (Issued, Expiry; Cause says which generation); it replaces this
	// session's pair in any state and ends a refresh in flight.
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
	// InSetToken).
	Issued, Expiry time.Time
	// Cause is the reason given for InReject, InRevoke, InSetToken and
	// InAdopt, and an optional note on a successful InResult (such as a
	// fallback grant).
	Cause string
	// Until is when another process's refresh lease lapses (InBusy).
	Until time.Time
	// Reread is what the store held when it was re-read after a refusal
	// (InResult with a permanent verdict, after Effects.Reread); a newer
	// pair is fed as InAdopt instead.
	Reread Reread
}

// Transition is one change of state, with the reason for it.
type Transition struct {
	At       time.Time
	From, To State
	Event    Event
	Cause    string
	// Attempt is the number of the attempt that starts or ends with this
	// transition (0 for transitions outside a refresh).
	Attempt int
	// NextAt is when the next attempt is due (Fail), or when the next cycle
	// starts (Postpone); zero otherwise.
	NextAt time.Time
}

// maxTransitions bounds the transitions one Step can make (set_token with an
// expired token, then expire and refresh).
const maxTransitions = 3

// Effects is what the caller must do after a Step.
type Effects struct {
	// StartRefresh asks the caller to send one refresh request now, tagged
	// with Flight, and to feed its result back as InResult.
	StartRefresh bool
	Flight       uint64
	// Reread asks the caller, before the refusal of flight Flight is
	// taken as final (Config.Shared), to read the store again and feed
	// InAdopt with a newer pair, or the same InResult again with Reread
	// set to what it found. The session stays Refreshing meanwhile.
	Reread bool
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
	fx.StartRefresh, fx.Reread, fx.Flight, fx.n = false, false, 0, 0
	switch in.Kind {
	case InWake, InDemand:
		m.advance(d, fx, now, in.Kind == InDemand)
	case InResult:
		if d.State == Refreshing && in.Flight == d.Flight {
			m.result(d, fx, *in, now)
		}
	case InReject:
		if d.State == Revoked || d.Rejected {
			break
		}
		d.Rejected = true
		if d.State != Valid {
			break
		}
		cause := in.Cause
		if cause == "" {
			cause = "access token rejected by the resource server"
		}
		if d.Probation && (d.shortLived() || now.Sub(d.Issued) < FreshWindow) {
			// Another token would most likely be refused as well (a wrong
			// audience or scope, a skewed clock): this is a failed attempt
			// of the rejection's cycle, paced by the policy.
			m.failLate(d, fx, cause+": a token issued moments ago was rejected too", now)
			break
		}
		fire(d, fx, Reject, cause, now)
		m.startCycle(d, fx, Refresh, "access token rejected", now)
		d.RejectCycle = true
	case InAccept:
		if d.State == Valid && d.Probation && !d.shortLived() {
			d.Probation, d.RejectCycle = false, false
			d.Attempt, d.PrevDelay = 0, 0
		}
	case InRevoke:
		if d.State != Revoked {
			d.Cause = in.Cause
			d.NextAt = time.Time{}
			fire(d, fx, Revoke, in.Cause, now)
		}
	case InSetToken, InAdopt:
		d.Issued, d.Expiry = in.Issued, in.Expiry
		d.Rejected, d.Postponed, d.MaybeConsumed = false, false, false
		d.RejectCycle, d.Probation, d.Suspects = false, false, 0
		d.Attempt, d.PrevDelay, d.Cause = 0, 0, ""
		d.Flight++ // a refresh still in flight is stale now
		ev := SetToken
		if in.Kind == InAdopt {
			ev = Adopt
		}
		fire(d, fx, ev, in.Cause, now)
		d.NextAt = m.refreshPoint(d)
		m.advance(d, fx, now, false)
	case InLeaseFree:
		if d.State == Waiting {
			d.NextAt = now
			m.advance(d, fx, now, false)
		}
	case InBusy:
		if d.State == Refreshing && in.Flight == d.Flight {
			// Serve a still-valid token meanwhile; callers without one wait
			// for the holder's pair, as during a refresh of their own.
			d.NextAt = in.Until
			fire(d, fx, Wait, "another process holds the refresh lease", now)
		}
	}
	fx.WakeAt = d.NextAt
}

// advance moves the session along the clock: expiry, the refresh-ahead
// point, a due retry, and (on demand) a new cycle from Expired.
func (m *Machine) advance(d *Data, fx *Effects, now time.Time, demand bool) {
	switch d.State {
	case Valid:
		if !d.Usable(now) {
			if d.Probation && d.shortLived() {
				m.failLate(d, fx, "token endpoint issued a token that lived "+d.Expiry.Sub(d.Issued).String()+
					", below the "+MinLifetime.String()+" floor", now)
				return
			}
			fire(d, fx, Expire, "access token expired", now)
			m.startCycle(d, fx, Refresh, "access token expired", now)
			return
		}
		// In Valid, NextAt holds the refresh point once it is known.
		p := d.NextAt
		if p.IsZero() {
			p = m.refreshPoint(d)
		}
		if !now.Before(p) {
			m.startCycle(d, fx, RefreshAhead, "refresh-ahead point reached", now)
			return
		}
		d.NextAt = p
	case Expired:
		if demand {
			m.startCycle(d, fx, Refresh, "token demanded", now)
		}
	case Backoff, Waiting:
		if !d.NextAt.IsZero() && !now.Before(d.NextAt) {
			d.Attempt++
			d.NextAt = time.Time{}
			d.Flight++
			fx.StartRefresh, fx.Flight = true, d.Flight
			if d.State == Waiting {
				fire(d, fx, TakeOver, "the refresh lease lapsed without a new pair", now)
			} else {
				fire(d, fx, Retry, "retry due", now)
			}
		}
	}
}

func (m *Machine) startCycle(d *Data, fx *Effects, ev Event, cause string, now time.Time) {
	d.Attempt, d.CycleStart, d.PrevDelay, d.MaybeConsumed = 1, now, 0, false
	d.RejectCycle, d.Probation = false, false
	d.NextAt = time.Time{}
	d.Flight++
	fx.StartRefresh, fx.Flight = true, d.Flight
	fire(d, fx, ev, cause, now)
}

func (m *Machine) result(d *Data, fx *Effects, in Input, now time.Time) {
	v := in.Verdict
	if v.Class == policy.OK {
		switch {
		case !in.Expiry.After(now):
			v = policy.Verdict{Class: policy.Transient, Cause: "token endpoint returned an already expired token", MaybeProcessed: true}
		case !d.Expiry.IsZero() && !in.Expiry.After(d.Expiry):
			v = policy.Verdict{Class: policy.Transient, Cause: "token endpoint returned a token whose expiry did not advance", MaybeProcessed: true}
		default:
			d.Issued, d.Expiry = in.Issued, in.Expiry
			d.Rejected, d.Postponed, d.MaybeConsumed = false, false, false
			d.Cause, d.Suspects = "", 0
			fire(d, fx, Succeed, in.Cause, now)
			d.Probation = d.RejectCycle || d.shortLived()
			if !d.Probation {
				d.Attempt, d.PrevDelay = 0, 0
			}
			d.NextAt = m.refreshPoint(d)
			return
		}
	}
	if m.askReread(d, fx, v, &in) {
		return // the refusal is counted when it comes back
	}
	d.confirm(&v)
	if v.Class == policy.Permanent && m.rereadFailed(d, fx, v, &in, now) {
		return
	}
	if v.Class == policy.Permanent {
		cause := v.Cause
		if note := d.ConsumedNote(); note != "" {
			cause += ": " + note
		}
		d.Cause, d.NextAt = cause, time.Time{}
		fire(d, fx, Deny, cause, now)
		return
	}
	m.failed(d, fx, v, now)
}

// failLate fails the attempt that yielded a token on probation, which died
// or was rejected before proving itself.
func (m *Machine) failLate(d *Data, fx *Effects, cause string, now time.Time) {
	d.Probation = false
	m.failed(d, fx, policy.Verdict{Class: policy.Transient, Cause: cause}, now)
}

// failed schedules the next attempt after a transient failure v, as the
// policy says, or ends the cycle.
func (m *Machine) failed(d *Data, fx *Effects, v policy.Verdict, now time.Time) {
	d.Cause = v.Cause
	d.MaybeConsumed = d.MaybeConsumed || v.MaybeProcessed
	if v.Class != policy.Suspect {
		d.Suspects = 0
	}
	delay, again := m.policy.Delay(policy.Attempt{
		N: d.Attempt, Elapsed: now.Sub(d.CycleStart), Prev: d.PrevDelay, Rand: d.Rand.Uint64(),
	})
	if ra := min(v.RetryAfter, m.maxRetryAfter); ra > delay {
		delay = ra
	}
	switch {
	case again:
		d.PrevDelay = delay
		d.NextAt = now.Add(delay)
		fire(d, fx, Fail, v.Cause, now)
	case d.Usable(now):
		d.Postponed = true
		d.NextAt = d.Expiry
		fire(d, fx, Postpone, v.Cause, now)
		d.Attempt = 0
	default:
		d.NextAt = time.Time{}
		fire(d, fx, GiveUp, v.Cause, now)
	}
}

// shortLived reports whether the current token's lifetime is below
// MinLifetime.
func (d *Data) shortLived() bool { return d.Expiry.Sub(d.Issued) < MinLifetime }

// refreshPoint is when a valid token's refresh cycle starts. A short-lived
// token is served to its end: refreshing it ahead would only shorten it.
func (m *Machine) refreshPoint(d *Data) time.Time {
	if m.refreshAhead <= 0 || d.Postponed || d.shortLived() {
		return d.Expiry
	}
	p := d.Expiry.Add(-m.refreshAhead)
	if half := d.Issued.Add(d.Expiry.Sub(d.Issued) / 2); p.Before(half) {
		p = half
	}
	return p
}

// fire makes the transition ev from d.State, as the table allows, and records it.
func fire(d *Data, fx *Effects, ev Event, cause string, now time.Time) {
	to, ok := Next(d.State, ev)
	if !ok || fx.n == maxTransitions {
		// Unreachable by construction; the property tests check that every
		// recorded transition is legal and that states follow the records.
		return
	}
	tr := Transition{At: now, From: d.State, To: to, Event: ev, Cause: cause}
	if to == Refreshing || d.State == Refreshing || ev == Fail || ev == GiveUp {
		tr.Attempt = d.Attempt
	}
	if ev == Fail || ev == Postpone {
		tr.NextAt = d.NextAt
	}
	fx.trans[fx.n] = tr
	fx.n++
	d.State = to
}
