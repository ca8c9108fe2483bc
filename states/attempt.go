package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// The end of an attempt: its answer taken in, the fallback grant turned to,
// the token installed and persisted, or the failure concluded.

// result takes in the answer to the request of the attempt under way.
func (m *Machine) result(d *Data, fx *Effects, in *Input, now time.Time) {
	v := in.Verdict
	if d.fb >= fbDead {
		m.fallbackResult(d, fx, in, now)
		return
	}
	if v.Class == policy.OK {
		switch {
		case !in.Expiry.After(now):
			v = policy.Verdict{Class: policy.Transient, MaybeProcessed: true}
			m.keepRotated(d, fx, in)
			m.conclude(d, fx, v, ReasonAnswerExpired, "", true, now)
		case !d.expiry.IsZero() && !in.Expiry.After(d.expiry):
			v = policy.Verdict{Class: policy.Transient, MaybeProcessed: true}
			m.keepRotated(d, fx, in)
			m.conclude(d, fx, v, ReasonExpiryStuck, "", true, now)
		default:
			d.rtDead, d.rtNone = false, false
			fx.Install = InstallPair
			m.succeed(d, fx, in, ReasonNone, "", now)
		}
		return
	}
	if m.Fallback(d, v, m.sameClient) {
		// The refresh token (or the client) is refused for good: the same
		// attempt turns to the fallback grant. The refusal is the last
		// failure, worded as a revocation would word it.
		d.fb = fbRefused
		if v.Misconfigured {
			d.fb = fbClient
		}
		d.reason, d.detail = failReason(v), joined(v.Cause, ": ", d.consumedNote())
		fx.Send, fx.Flight = GrantFallback, d.flight
		return
	}
	d.confirm(&v)
	m.conclude(d, fx, v, failReason(v), v.Cause, true, now)
}

// deny revokes the session with the refusal recorded in d (sent: it
// answered a request), giving up the lease.
func (m *Machine) deny(d *Data, fx *Effects, sent bool, now time.Time) {
	if m.login != LoginNone && d.reason != ReasonMisconfigured {
		// A login is the way back: the session says so (a refused
		// client needs its configuration fixed, not a login).
		m.needLogin(d, fx, sent, policy.Permanent, now)
		return
	}
	d.step, d.nextAt = stepNone, time.Time{}
	if tr := fire(d, fx, Deny, d.reason, d.detail, now); tr != nil {
		tr.Sent, tr.Class = sent, policy.Permanent
	}
	m.release(d, fx, d.reason != ReasonCrashedHolder)
}

// verified takes in what the store held when it was read again after a
// final refusal (Config.Shared): a newer pair — another generation of the
// family, or another process's pair saved to a plain store, expiring later
// — is adopted; nothing newer lets the refusal revoke.
func (m *Machine) verified(d *Data, fx *Effects, in *Input, now time.Time) {
	if d.removedFor(in) {
		m.loggedOut(d, fx, in.Generation, now)
		return
	}
	newer := !in.Own && !in.Expiry.IsZero() &&
		(in.Generation > d.gen || !m.coordinated && in.Expiry.After(d.expiry))
	if newer {
		m.adopt(d, fx, in, now)
		return
	}
	m.deny(d, fx, true, now)
}

// unverified takes in a store that could not be read again after a final
// refusal: a newer pair may be in it, so the attempt fails transiently,
// paced by the policy, instead of revoking.
func (m *Machine) unverified(d *Data, fx *Effects, in *Input, now time.Time) {
	detail := d.detail + " (" + RereadFailedNote
	if in.Detail != "" {
		detail += ": " + in.Detail
	}
	d.step = stepNone
	m.failed(d, fx, policy.Verdict{Class: policy.Transient}, d.reason, detail+")", true, now)
}

// RereadFailedNote ends the cause of a refusal that could not be checked
// against the store (Config.Shared): the attempt fails transiently instead
// of revoking.
const RereadFailedNote = "not final: the shared store could not be read again for a newer pair"

// fallbackResult takes in the answer to the fallback grant's request.
func (m *Machine) fallbackResult(d *Data, fx *Effects, in *Input, now time.Time) {
	used, why := d.fallbackUse()
	v := in.Verdict
	// Only a new refresh token revives the primary grant: a fallback
	// answer that carries none (or the refused one) leaves it dead.
	d.rtDead = !(v.Class == policy.OK && in.Rotated)
	d.rtNone = d.rtNone && d.rtDead
	if v.Class == policy.OK && in.Expiry.After(now) && (d.expiry.IsZero() || in.Expiry.After(d.expiry)) {
		fx.Install = InstallPair
		if d.rtDead {
			fx.Install = InstallPairDead
		}
		m.succeed(d, fx, in, why, used, now)
		return
	}
	if v.Class == policy.OK {
		v = policy.Verdict{Class: policy.Transient, MaybeProcessed: true, Cause: ReasonExpiryStuck.Format("")}
		if !in.Expiry.After(now) {
			v.Cause = ReasonAnswerExpired.Format("")
		}
		m.keepRotated(d, fx, in)
	}
	d.confirm(&v)
	v.MaybeProcessed = false // the fallback grant spends no refresh token
	m.conclude(d, fx, v, ReasonFallbackFailed, used+"; fallback grant: "+v.Cause, true, now)
}

// fallbackUse words why the attempt uses the fallback grant, as the tail
// of its success's cause (ReasonFallback*) and the head of its failure's.
func (d *Data) fallbackUse() (string, Reason) {
	switch d.fb {
	case fbRefused:
		return "the refresh token was refused (" + d.detail + ")", ReasonFallback
	case fbClient:
		return "the client was refused (" + d.detail + ")", ReasonFallbackClient
	case fbOrphan:
		return CrashedHolderCause, ReasonFallbackOrphan
	case fbNoRefresh:
		return "there is no refresh token", ReasonFallbackNoRefresh
	}
	return "the refresh token was refused earlier", ReasonFallbackDead
}

// keepRotated keeps the new refresh token of an answer whose access token
// the machine refused: a rotating server retired the old one the moment it
// issued it.
func (m *Machine) keepRotated(d *Data, fx *Effects, in *Input) {
	if in.Rotated {
		d.rtDead, d.rtNone = false, false
		fx.Install = InstallRefresh
		d.unpublished, d.relogin = true, false
	}
}

// succeed installs the token the attempt obtained and closes it.
func (m *Machine) succeed(d *Data, fx *Effects, in *Input, why Reason, detail string, now time.Time) {
	d.issued, d.expiry = in.Issued, in.Expiry
	d.rejected, d.postponed = false, false
	d.maybeConsumed, d.doubtCause, d.suspectN, d.awaitPair = false, "", 0, false
	d.reason, d.detail = ReasonNone, ""
	d.step, d.fb = stepNone, fbNone
	fx.InstalledBy = Succeed
	if tr := fire(d, fx, Succeed, why, detail, now); tr != nil {
		tr.Sent, tr.Class = true, policy.OK
	}
	d.probation = d.rejectCycle || d.shortLived()
	if !d.probation {
		d.attempt, d.prevDelay = 0, 0
	}
	d.nextAt = m.refreshPoint(d)
	d.unpublished, d.relogin, d.pubTries = true, false, 0
	m.persist(d, fx)
}

// conclude ends the attempt under way with the failure v (why, detail;
// sent: its request was sent): a revocation when v is final, else a retry
// or the end of the cycle as the policy says. A session holding the
// family's lease keeps it through the retry or gives it up.
func (m *Machine) conclude(d *Data, fx *Effects, v policy.Verdict, why Reason, detail string, sent bool, now time.Time) {
	d.step, d.fb = stepNone, fbNone
	switch {
	case v.Class != policy.Permanent:
		m.failed(d, fx, v, why, detail, sent, now)
		m.afterFailure(d, fx, now)
	case m.shared && !v.Misconfigured && sent:
		// Not final yet: another process may have refreshed or logged in
		// since the attempt began. The store is read again (verified).
		d.reason, d.detail = why, joined(detail, ": ", d.consumedNote())
		m.release(d, fx, !d.maybeConsumed)
		m.storeOp(d, fx, StoreRead, stepVerify)
		return
	default:
		d.reason, d.detail = why, joined(detail, ": ", d.consumedNote())
		m.deny(d, fx, sent, now)
	}
	if d.unpublished {
		m.persist(d, fx)
	}
}

// noRefresh takes in that the request asked for could not be presented:
// the session holds no refresh token (session.ErrNoRefreshToken). The same
// attempt turns to the fallback grant if there is one; otherwise there is
// nothing to refresh with, which is no revocation: the session waits in
// Expired for a pair from outside (NoToken), or, with a login method, in
// NeedsLogin (NeedLogin), its lease given up.
func (m *Machine) noRefresh(d *Data, fx *Effects, now time.Time) {
	d.rtDead, d.rtNone = true, true
	if d.fb < fbDead && m.fallback {
		d.fb = fbNoRefresh
		fx.Send, fx.Flight = GrantFallback, d.flight
		return
	}
	why := ReasonNoRefreshToken
	if d.expiry.IsZero() {
		why = ReasonNoTokenYet
	}
	d.step, d.fb = stepNone, fbNone
	d.reason, d.detail, d.nextAt = why, "", time.Time{}
	if m.login != LoginNone {
		m.needLogin(d, fx, false, policy.Permanent, now)
		return
	}
	d.awaitPair = true
	fire(d, fx, NoToken, why, "", now)
	m.release(d, fx, true) // nothing was sent
}
