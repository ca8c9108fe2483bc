package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

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
	fx.Send, fx.Store, fx.Lease, fx.Install, fx.Save, fx.ClearMark = GrantNone, StoreNone, LeaseNone, InstallNone, false, false
	fx.Login, fx.Logout = false, false
	switch in.Kind {
	case InWake, InDemand:
		m.advance(d, fx, now, in.Kind == InDemand)
	case InResult:
		if d.state == Refreshing && in.Flight == d.flight && d.step == stepSend {
			m.result(d, fx, in, now)
		}
	case InThrottled:
		if d.state == Refreshing && in.Flight == d.flight && d.step == stepSend {
			m.conclude(d, fx, policy.Verdict{Class: policy.Transient}, ReasonThrottled, "", false, now)
		}
	case InNoRefresh:
		if d.state == Refreshing && in.Flight == d.flight && d.step == stepSend {
			m.noRefresh(d, fx, now)
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
		why := ReasonRevokeCalled
		if in.Reason == ReasonLogout {
			// A logout ends the session everywhere, whatever its state: at
			// the authorization server and in its store or family.
			why, fx.Logout = ReasonLogout, true
			d.unpublished, d.relogin = false, false
		}
		if d.state != Revoked {
			m.release(d, fx, false)
			d.reason, d.detail = why, in.Detail
			d.nextAt, d.step = time.Time{}, stepNone
			fire(d, fx, Revoke, why, in.Detail, now)
		} else if why == ReasonLogout {
			d.reason, d.detail = why, in.Detail // it watches its family no more
		}
	case InLoggedIn:
		if d.state == LoggingIn && in.Flight == d.flight {
			m.loggedIn(d, fx, in, now)
		}
	case InLoginFailed:
		if d.state == LoggingIn && in.Flight == d.flight {
			d.reason, d.detail = ReasonLoginFailed, in.Detail
			fire(d, fx, LoginFail, ReasonLoginFailed, in.Detail, now)
		}
	case InSetToken:
		m.install(d, fx, SetToken, ReasonSetToken, in, now)
		if m.coordinated {
			// A re-login starts the family's next generation, whatever
			// the store holds now.
			d.unpublished, d.relogin, d.pubTries = true, true, 0
			if d.state != Refreshing {
				m.storeOp(d, fx, StoreRead, stepSetRead)
			}
		}
	case InAdopt:
		m.release(d, fx, true)
		m.install(d, fx, Adopt, ReasonAdopted, in, now)
	case InLeaseFree:
		if d.state == Waiting {
			d.nextAt = now
			m.advance(d, fx, now, false)
		}
	case InFlush:
		if m.coordinated && d.unpublished {
			m.publish(d, fx)
		}
	case InBusy:
		if d.state == Refreshing && in.Flight == d.flight && (d.step == stepAcquire || !m.coordinated) {
			m.busy(d, fx, in.Until, now)
		}
	default:
		m.protocol(d, fx, in, now)
	}
	if fx.Send != GrantNone {
		d.sentAt = now
	}
	fx.WakeAt = d.nextAt
	fx.Watch = m.Watching(d)
	fx.WatchLease = m.WatchingLease(d)
	fx.WatchLogout = m.WatchingLogout(d)
}

// install replaces the session's pair with in's (an application's or an
// adopted one) in any state: a refresh in flight is stale.
func (m *Machine) install(d *Data, fx *Effects, ev Event, why Reason, in *Input, now time.Time) {
	d.issued, d.expiry = in.Issued, in.Expiry
	d.rejected, d.postponed, d.maybeConsumed, d.doubtCause = false, false, false, ""
	d.rejectCycle, d.probation, d.suspectN = false, false, 0
	d.attempt, d.prevDelay, d.reason, d.detail = 0, 0, ReasonNone, ""
	if why == ReasonSetToken {
		m.release(d, fx, false) // the refresh in flight may have spent the token
	}
	d.rtDead, d.rtNone, d.step, d.fb = in.NoRefresh, in.NoRefresh, stepNone, fbNone
	d.unpublished, d.relogin, d.ownPair, d.awaitPair = false, false, false, false
	if in.Generation != 0 || ev == Adopt {
		d.gen = in.Generation
	}
	d.flight++ // a refresh still in flight is stale now
	fx.Install, fx.InstalledBy = InstallPair, ev
	if tr := fire(d, fx, ev, why, in.Detail, now); tr != nil {
		tr.Generation = in.Generation
	}
	d.nextAt = m.refreshPoint(d)
	m.advance(d, fx, now, false)
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
		p := m.refreshPoint(d)
		if !now.Before(p) {
			m.startCycle(d, fx, RefreshAhead, ReasonRefreshAhead, now)
			return
		}
		d.nextAt = p
		if d.unpublished {
			m.republish(d, fx, now)
		}
	case Expired:
		if demand && !d.awaitPair {
			m.startCycle(d, fx, Refresh, ReasonDemanded, now)
		}
	case NeedsLogin:
		if demand && m.login == LoginOwn {
			m.startLogin(d, fx, now)
		}
	case Backoff, Waiting:
		if !d.nextAt.IsZero() && !now.Before(d.nextAt) {
			d.attempt++
			d.nextAt = time.Time{}
			if d.state == Waiting {
				fire(d, fx, TakeOver, ReasonLeaseFree, "", now)
			} else {
				fire(d, fx, Retry, ReasonRetryDue, "", now)
			}
			m.begin(d, fx)
		}
	}
}

func (m *Machine) startCycle(d *Data, fx *Effects, ev Event, why Reason, now time.Time) {
	d.attempt, d.cycleStart, d.prevDelay = 1, now, 0
	d.rejectCycle, d.probation = false, false
	d.nextAt = time.Time{}
	fire(d, fx, ev, why, "", now)
	m.begin(d, fx)
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
	if v.MaybeProcessed {
		if !d.maybeConsumed {
			d.doubtAt = d.sentAt
		}
		d.maybeConsumed, d.doubtCause = true, d.Cause()
	}
	if v.Class != policy.Suspect {
		d.suspectN = 0
	}
	delay, again := m.policy.Delay(policy.Attempt{
		N: d.attempt, Elapsed: now.Sub(d.cycleStart), Prev: d.prevDelay, Rand: d.rand.Uint64(),
	})
	if at := m.graceRetry(d); at.After(now) && (!again || now.Add(delay).After(at)) {
		delay, again = at.Sub(now), true
	}
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

// graceRetry is the latest instant for the next attempt while the refresh
// token may have been spent by a request whose answer was lost and the
// server still accepts it again (Config.ReuseGrace): half the grace after
// that request was sent, leaving the other half for the retry to reach the
// server. Until then a longer delay of the policy is shortened to it, and
// a policy that gives up (or postpones) retries at it instead: past the
// grace, a server that did rotate would refuse the token for good. Zero
// when there is no grace or no doubt.
func (m *Machine) graceRetry(d *Data) time.Time {
	if !d.maybeConsumed || m.reuseGrace <= 0 || d.doubtAt.IsZero() {
		return time.Time{}
	}
	return d.doubtAt.Add(m.reuseGrace / 2)
}

// refreshPoint is when a valid token's refresh cycle starts. A short-lived
// token is served to its end: refreshing it ahead would only shorten it. A
// process of a family starts a little earlier, by its own jitter
// (spread.go), so that the family's processes do not all start at once.
func (m *Machine) refreshPoint(d *Data) time.Time {
	if m.refreshAhead <= 0 || d.postponed || d.shortLived() {
		return d.expiry
	}
	p := d.expiry.Add(-m.refreshAhead)
	if half := d.issued.Add(d.expiry.Sub(d.issued) / 2); p.Before(half) {
		p = half
	}
	if m.coordinated {
		p = p.Add(-d.refreshSpread(d.expiry.Sub(p)))
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
