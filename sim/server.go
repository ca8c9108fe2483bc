package sim

import (
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Which grant an attempt uses instead of the refresh token (session.fb).
const (
	fbNone    uint8 = iota // the refresh token
	fbDead                 // the fallback grant: the refresh token was refused before
	fbOrphan               // the fallback grant: a vanished holder may have spent the token (Machine.Orphaned)
	fbRefused              // the fallback grant, after the refresh token was refused in this attempt
)

// attempt starts the refresh attempt the machine asked for: with a shared
// store, the coordination protocol's first round trip (share.go);
// otherwise the request itself.
func (r *run) attempt(i uint32, s *session, t int64) {
	if s.inflight {
		r.inv.violate(t, i, "at most one refresh in flight", "a refresh started while another was in flight")
	}
	s.inflight, s.fb = true, fbNone
	if s.rtDead {
		s.fb = fbDead // as the runtime: only a new refresh token revives the primary grant
	}
	if r.stores != nil {
		r.trip(i, s, stepRead, t)
		return
	}
	r.send(i, s, t)
}

// send sends the attempt's request: the refresh token, or the fallback
// grant in its place. The shared throttle, when the scenario has one, may
// keep it from being sent, as session.refresh does after coordinating: the
// attempt then fails transiently at once, its answer an event at t.
func (r *run) send(i uint32, s *session, t int64) {
	s.step, s.sentAt = stepSend, t
	if r.thr != nil && !r.thr.Allow(r.clock(t), r.thrRand.Uint64()) {
		r.throttled++
		r.q.push(t, evResult, i, uint64(codeThrottled)|uint64(uint32(s.d.Flight))<<32)
		return
	}
	r.stats.RefreshRequests++
	if r.blame.refresh < 0 && r.stats.RefreshRequests > r.blame.refreshLimit {
		r.blame.refresh = int32(i)
	}
	r.request(i, s, t, r.timeout)
}

// request models one request to the token endpoint sent at t with budget
// left of the attempt's timeout: the token server (behind its proxy and its
// faults) decides the answer now, and the client observes it after the
// latency, or gives up when the budget runs out. Within a crash_holder
// window the server performs it and the process crashes.
func (r *run) request(i uint32, s *session, t, budget int64) {
	fallback := s.fb != fbNone
	crash := r.window(FaultCrashHolder, t)
	if r.stores != nil {
		r.checkPresent(i, s, fallback, crash == nil, t)
	}
	code, after := r.answer(i, s, fallback, t, budget)
	if crash != nil {
		r.crash(i, s, t, int64(crash.Restart))
		return
	}
	r.q.push(t+after, evResult, i, uint64(code)|uint64(uint32(s.d.Flight))<<32)
}

// answer returns the outcome code of a request arriving at t and how long
// the client waits for it. The fallback grant (client_credentials) is
// accepted by the model's server: a revocation of the refresh-token family
// (the revoke fault, reuse detection) does not concern it, but every other
// fault does.
func (r *run) answer(i uint32, s *session, fallback bool, t, budget int64) (code uint32, after int64) {
	lat := r.latency
	if f, idx := r.fault(t, fallback); f != nil {
		switch f.Kind {
		case FaultHang:
			return codeTimeout, budget
		case FaultRefused:
			return codeRefused, 0
		case FaultStatus:
			code = codeFault + uint32(idx)
		case FaultHTML200:
			code = codeHTML
		case FaultMalformed:
			code = codeMalformed
		case FaultLostResponse:
			if !fallback {
				r.refresh(i, s, t) // done server-side; the answer is lost
			}
			code = codeLost
		case FaultRevoke:
			code = codeInvalidGrant
		}
		return r.late(code, lat, budget)
	}
	if c := int64(r.sc.Fleet.ServerCapacity); c > 0 {
		if b := t / int64(time.Second); b != r.capBucket {
			r.capBucket, r.capCount = b, 0
		}
		r.capCount++
		if r.capCount > c {
			return r.late(codeOverload, lat, budget)
		}
	}
	if fallback {
		return r.late(codeOK, lat, budget)
	}
	return r.late(r.refresh(i, s, t), lat, budget)
}

// late turns an answer slower than the budget into a timeout.
func (r *run) late(code uint32, lat, budget int64) (uint32, int64) {
	if lat >= budget {
		return codeTimeout, budget
	}
	return code, lat
}

// fault returns the first fault that decides token endpoint answers at t.
// A revoke fault concerns refresh tokens only, not the fallback grant.
func (r *run) fault(t int64, fallback bool) (*Fault, int) {
	fs := r.sc.Server.Faults
	for i := range fs {
		if f := &fs[i]; f.endpoint() && f.covers(time.Duration(t)) && !(fallback && f.Kind == FaultRevoke) {
			return f, i
		}
	}
	return nil, -1
}

// window returns the first fault of kind k in effect at t, or nil.
func (r *run) window(k FaultKind, t int64) *Fault {
	if r.kinds&(1<<k) == 0 {
		return nil
	}
	fs := r.sc.Server.Faults
	for i := range fs {
		if fs[i].Kind == k && fs[i].covers(time.Duration(t)) {
			return &fs[i]
		}
	}
	return nil
}

// refresh is the token server proper: it checks the presented refresh
// token and, when it is good, issues a new pair (rotating the refresh token
// when the scenario says so); s.newRT is the refresh token the answer
// carries. A retired token is accepted for reuse_grace after its
// retirement; outside it, with reuse_detection, it revokes the family.
func (r *run) refresh(i uint32, s *session, t int64) uint32 {
	fi := r.famOf(i)
	f := &r.fams[fi]
	if f.revoked {
		return codeInvalidGrant
	}
	c := s.cliRTGen
	cur := c == f.rtGen && (r.refreshTTL == 0 || t < f.rtIssued+r.refreshTTL)
	if !cur && !(c < f.rtGen && r.graced(fi, c, t)) {
		if c < f.rtGen && r.sc.Token.ReuseDetection {
			f.revoked = true
			r.familyLost(i, fi)
		}
		return codeInvalidGrant
	}
	s.newRT = c
	if r.sc.Token.Rotate {
		f.rtGen++
		f.rtIssued = t
		r.issued(fi, f.rtGen, t)
		s.newRT = f.rtGen
	}
	return codeOK
}

// deliver feeds the answer to session i's request to its machine. A
// refused refresh token is followed by the fallback grant within the same
// attempt, when the session has one, as the runtime does.
func (r *run) deliver(i uint32, aux uint64, t int64) {
	code, flight := uint32(aux), uint32(aux>>32)
	s := r.sess(i)
	if s.down || !s.inflight || s.step != stepSend || uint32(s.d.Flight) != flight {
		return // lost with a crashed process
	}
	if r.stores != nil {
		if st := &r.stores[r.famOf(i)]; st.flyer == s.holder {
			st.flyer = 0
		}
	}
	if code == codeThrottled {
		// Not sent: no answer to record, no grant spent.
		r.conclude(i, s, code, r.plain(s, code), t)
		return
	}
	v := &r.answers[code].verdict
	// The model's fallback grant (client_credentials) authenticates as the
	// same client: a refused client is not tried again, as the runtime
	// decides with a Client of the same credentials.
	if s.fb == fbNone && r.m.Fallback(&s.d, *v, true) {
		if budget := s.sentAt + r.timeout - t; budget > 0 {
			s.fb, s.refusal = fbRefused, code
			r.request(i, s, t, budget)
			return
		}
	}
	if r.thr != nil {
		// The attempt's outcome, once: a refusal followed by the fallback
		// grant is recorded by the fallback's answer, as the runtime does.
		r.thr.Record(r.clock(t), r.answers[code].accepted)
	}
	if r.tl != nil {
		c := v.Class
		if c == policy.Suspect && r.m.Final(&s.d, *v) {
			c = policy.Permanent // the repeat that revokes
		}
		r.tl.attempt(i, s.sentAt, t, c)
	}
	if s.fb != fbNone {
		s.rtDead = true
	} else if code == codeOK {
		// As the runtime does: a rotating server retired the old refresh
		// token the moment it issued this pair, so the client keeps the new
		// one even when the machine refuses the access token (an expiry
		// that did not advance).
		s.cliRTGen = s.newRT
	}
	if code == codeOK && r.stores != nil {
		r.trip(i, s, stepPublish, t) // the answer is fed once published
		return
	}
	r.conclude(i, s, code, r.result(s, code, t), t)
}

// result is the machine's input for the answer code to the attempt under
// way, which arrived at ans.
func (r *run) result(s *session, code uint32, ans int64) states.Input {
	in := states.Input{Kind: states.InResult, Verdict: r.verdict(s, code), Flight: s.d.Flight}
	if code != codeOK {
		return in
	}
	// The server issued the pair when the request arrived, one latency
	// before the answer.
	srv := ans - r.latency
	in.Issued = r.clock(ans)
	in.Expiry = in.Issued.Add(time.Duration(r.ttl))
	if r.sc.Token.OmitExpiresIn {
		// exp and iat are claims written on the server's clock.
		in.Issued = epoch.Add(time.Duration(srv))
		in.Expiry = epoch.Add(time.Duration(srv + r.ttl))
	}
	in.Cause = in.Verdict.Cause
	in.Verdict.Cause = ""
	r.pendIssued = srv
	return in
}

// conclude ends the attempt under way with code and feeds in to the
// machine; with a shared store, the holder then keeps or releases the
// lease.
func (r *run) conclude(i uint32, s *session, code uint32, in states.Input, t int64) {
	s.inflight, s.step = false, stepNone
	r.code = code
	if fx := r.step(i, s, in, t); fx.Reread {
		r.reread(i, s, in, t)
	}
	if s.held && !s.inflight {
		r.afterAttempt(i, s, t)
	}
}

// causeKey identifies a cause made of others, so that each is built once
// per run and the hot path allocates nothing.
type causeKey struct {
	fb       uint8
	a, b, c  string
	consumed bool
}

// verdict is the verdict the machine gets for the answer code, with the
// cause the runtime gives when the fallback grant was involved.
func (r *run) verdict(s *session, code uint32) policy.Verdict {
	v := r.answers[code].verdict
	if s.fb == fbNone {
		return v
	}
	k := causeKey{fb: s.fb, b: v.Cause}
	if s.fb == fbRefused {
		k.a = r.answers[s.refusal].verdict.Cause
		if code == codeOK && s.d.MaybeConsumed {
			k.c, k.consumed = s.d.Cause, true // what states.Data.ConsumedNote quotes
		}
	}
	c, ok := r.causes[k]
	if !ok {
		c = fallbackCause(k, code == codeOK)
		r.causes[k] = c
	}
	v.Cause = c
	return v
}

// fallbackCause words a cause as session.refresh does.
func fallbackCause(k causeKey, ok bool) string {
	switch {
	case ok && k.fb == fbRefused:
		c := "fallback grant after the refresh token was refused (" + k.a + ")"
		if k.consumed {
			d := states.Data{MaybeConsumed: true, Cause: k.c}
			c += ": " + d.ConsumedNote()
		}
		return c
	case ok && k.fb == fbOrphan:
		return "fallback grant: " + states.CrashedHolderCause
	case ok:
		return ""
	case k.fb == fbRefused:
		return "refresh token refused (" + k.a + "); fallback grant: " + k.b
	case k.fb == fbOrphan:
		return states.CrashedHolderCause + "; fallback grant: " + k.b
	}
	return "refresh token refused earlier; fallback grant: " + k.b
}
