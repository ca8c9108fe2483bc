package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// login is a login of the workload at t (kind login): the user logs in
// again, as authfsm login does. The server starts a new grant for each
// family — a new refresh token, the family no longer revoked, a new access
// token issued at t — and, with a shared store (share: store), the pair is
// published as the family's next generation (the login's read and publish,
// two round trips, done by t), which the family's watching processes adopt
// one round trip later, as a publish by any process: one that needs a
// login (fleet.login: outside), one the server revoked, one without a
// token yet; the others find it at their next attempt. Without one, each
// session is its own family (fleet.families 0) and is given its pair
// (set_token), whatever its state: a login replaces the pair.
func (r *run) login(t int64) {
	if r.stores != nil {
		for f := range r.fams {
			r.grant(uint32(f), t)
			r.publishLogin(uint32(f), t)
		}
		return
	}
	for i := range r.ss {
		s := r.sess(uint32(i))
		if s.down || !s.started {
			continue // a process that is down, or not started yet, logs in when it starts
		}
		f := r.famOf(uint32(i))
		r.grant(f, t)
		issued, expiry := r.loginPair(t)
		// The refresh in flight, if any, is over: its answer is stale.
		s.awaiting = false
		fam := &r.fams[f]
		r.pendTok, r.pendIssued, r.pendRT = fam.tokSeq, t, fam.rtGen
		r.step(uint32(i), s, states.Input{Kind: states.InSetToken, Issued: issued, Expiry: expiry}, t)
	}
}

// grant starts a new grant of family f at t: its next refresh token and
// access token; a family that reuse detection revoked is revived.
func (r *run) grant(f uint32, t int64) {
	fam := &r.fams[f]
	fam.rtGen++
	fam.rtIssued = t
	fam.revoked = false
	r.issued(f, fam.rtGen, t)
	fam.tokSeq++
}

// loginPair returns the issue and expiry instants of a pair issued at t,
// on the client's clock (or the server's, from the JWT, with
// omit_expires_in).
func (r *run) loginPair(t int64) (issued, expiry time.Time) {
	issued, expiry = r.clock(t), r.clock(t).Add(time.Duration(r.ttl))
	if r.sc.Token.OmitExpiresIn {
		issued, expiry = epoch.Add(time.Duration(t)), epoch.Add(time.Duration(t+r.ttl))
	}
	return issued, expiry
}

// publishLogin publishes family f's new grant to its store at t and wakes
// the processes that watch it.
func (r *run) publishLogin(f uint32, t int64) {
	st, fam := &r.stores[f], &r.fams[f]
	issued, expiry := r.loginPair(t)
	r.stats.StoreRequests += 2 // the login's read and its publish
	st.gen++
	st.pubRT, st.pubTok, st.pubDead = fam.rtGen, fam.tokSeq, false
	st.pubIssued, st.pubExpiry, st.pubTokIssued = int64(issued.Sub(epoch)), int64(expiry.Sub(epoch)), t
	st.markHolder = 0
	r.notify(f, t, true)
}
