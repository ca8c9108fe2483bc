package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// The way back (Config.Login): a session with a login method that has
// nothing it may refresh with — it never had a token, the authorization
// server refused its grant for good, a vanished holder may have spent it,
// or another process logged its family out — does not end Revoked: it
// needs a login (NeedLogin), serves nothing and sends nothing in
// NeedsLogin, and watches its family (Config.Coordinated) for a pair
// another process publishes (authfsm login). With LoginOwn a demand starts
// the session's own login (Login, Effects.Login), whose end is fed back
// (InLoggedIn: LoggedIn, the pair saved or published as the family's next
// generation; InLoginFailed: LoginFail, back to NeedsLogin until the next
// demand). SetToken and an adopted pair end the wait in either state.
//
// A logout (Input.Removed: the family's pair removed from its store) is
// taken in by every process that holds the family's pair: it stops
// serving it, with a login method in NeedsLogin, without one Revoked
// (ReasonLoggedOut), where it still watches its family for the next login.

// needLogin makes a session that has nothing it may refresh with wait for
// a login, for the reason recorded in d; sent and class describe the
// attempt that ended so (a refusal), if one did.
func (m *Machine) needLogin(d *Data, fx *Effects, sent bool, class policy.Class, now time.Time) {
	d.step, d.fb, d.nextAt = stepNone, fbNone, time.Time{}
	if tr := fire(d, fx, NeedLogin, d.reason, d.detail, now); tr != nil && sent {
		tr.Sent, tr.Class = true, class
	}
	m.release(d, fx, d.reason != ReasonCrashedHolder)
}

// startLogin starts the session's own login (LoginOwn).
func (m *Machine) startLogin(d *Data, fx *Effects, now time.Time) {
	d.flight++
	d.nextAt = time.Time{}
	fire(d, fx, Login, ReasonDemanded, "", now)
	fx.Login, fx.Flight = true, d.flight
}

// loggedIn installs the pair the session's own login obtained and has it
// saved, or published as the family's next generation, whatever the store
// holds now (as SetToken's).
func (m *Machine) loggedIn(d *Data, fx *Effects, in *Input, now time.Time) {
	m.install(d, fx, LoggedIn, ReasonLoggedIn, in, now)
	if !m.coordinated {
		fx.Save = true
		return
	}
	d.unpublished, d.relogin, d.pubTries = true, true, 0
	if d.state != Refreshing {
		m.storeOp(d, fx, StoreRead, stepSetRead)
	}
}

// loggedOut takes in a logout of the family by another process (its pair
// removed from the store at generation gen): the session stops serving and
// refreshing its pair, and publishes nothing over the logout.
func (m *Machine) loggedOut(d *Data, fx *Effects, gen uint64, now time.Time) {
	d.flight++ // the attempt under way, if any, is over
	d.gen = gen
	d.step, d.fb, d.nextAt = stepNone, fbNone, time.Time{}
	d.unpublished, d.relogin, d.awaitPair = false, false, false
	d.reason, d.detail = ReasonLoggedOut, ""
	m.release(d, fx, true)
	if m.login != LoginNone {
		fire(d, fx, NeedLogin, ReasonLoggedOut, "", now)
		return
	}
	fire(d, fx, Revoke, ReasonLoggedOut, "", now)
}

// removedFor reports whether in, a read of the family, is a logout that
// concerns the session: the family's pair was removed after the generation
// the session's pair belongs to, and the session holds a pair it could
// serve or refresh. An application's own pair (StartWithOwnPair, not yet
// weighed against the store) is newer than anything the store held.
func (d *Data) removedFor(in *Input) bool {
	return in.Removed && in.Generation > d.gen && !d.ownPair && d.holdsPair()
}

// holdsPair reports whether the session holds a pair it may serve or
// refresh: it is neither revoked nor waiting for a login or for a pair.
func (d *Data) holdsPair() bool {
	switch d.state {
	case Revoked, NeedsLogin, LoggingIn:
		return false
	case Expired:
		if d.awaitPair {
			return false
		}
	}
	return !d.expiry.IsZero() || !d.rtNone // a session that never had a token holds none
}

// WatchingLogout reports whether a coordinated session must watch its
// family for a logout (Effects.WatchLogout): it holds a pair another
// process may log out, and watches for nothing else (Watching). Valid, it
// adopts a newer pair the watch reports too.
func (m *Machine) WatchingLogout(d *Data) bool {
	return m.coordinated && d.holdsPair() && !m.Watching(d)
}

// LoginFailed reports a sub-state of NeedsLogin: the session's own login
// ended without a pair (Reason ReasonLoginFailed); the next demand starts
// another.
func (d *Data) LoginFailed() bool { return d.state == NeedsLogin && d.reason == ReasonLoginFailed }
