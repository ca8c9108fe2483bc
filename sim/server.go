package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// perform performs the effects the machine asked session i for at t
// (states.Effects, after the transitions), in order, as the runtime does:
// install the pair the input carried, the lease follow-up, then the
// store's round trip or the request.
func (r *run) perform(i uint32, s *session, fx *states.Effects, t int64) {
	switch fx.Install {
	case states.InstallPair, states.InstallRefresh:
		s.cliRTGen = r.pendRT
	}
	if fx.Lease != states.LeaseNone {
		r.leaseOp(i, s, fx.Lease, fx.ClearMark, t)
		// The runtime performs the effects in order: what follows waits
		// for the lease follow-up's round trip.
		t += r.slat
	}
	if fx.Store != states.StoreNone {
		r.trip(i, s, fx.Store, fx.Flight, fx.Generation, t)
	}
	if fx.Send != states.GrantNone {
		r.send(i, s, fx.Send, t)
	}
}

// send sends the request of grant for the attempt under way. The first of
// an attempt may be kept back by the shared throttle, when the scenario has
// one, as session.refresh does: the attempt then fails at once, its answer
// an event at t. One that follows within the attempt (the fallback grant
// after a refusal) has what is left of the attempt's timeout.
func (r *run) send(i uint32, s *session, grant states.Grant, t int64) {
	flight := uint32(s.d.Flight())
	if s.awaiting {
		r.inv.violate(t, i, "at most one refresh in flight", "a refresh sent while another was in flight")
	}
	s.awaiting = true
	if grant != states.GrantFallback && s.cliRTGen == 0 {
		// The model's client holds no refresh token: nothing is sent
		// (session.ErrNoRefreshToken), its answer an event at t.
		r.q.push(t, evResult, i, uint64(codeNoRefresh)|uint64(flight)<<32)
		return
	}
	if s.sentFlight == flight {
		r.request(i, s, grant, t, s.sentAt+r.timeout-t)
		return
	}
	s.sentAt, s.sentFlight = t, flight
	if r.thr != nil && !r.thr.Allow(r.clock(t), r.thrRand.Uint64()) {
		r.throttled++
		r.q.push(t, evResult, i, uint64(codeThrottled)|uint64(flight)<<32)
		return
	}
	r.stats.RefreshRequests++
	if r.blame.refresh < 0 && r.stats.RefreshRequests > r.blame.refreshLimit {
		r.blame.refresh = int32(i)
	}
	r.request(i, s, grant, t, r.timeout)
}

// request models one request to the token endpoint sent at t with budget
// left of the attempt's timeout: the token server (behind its proxy and its
// faults) decides the answer now, and the client observes it after the
// latency, or gives up when the budget runs out. Within a crash_holder
// window the server performs it and the process crashes.
func (r *run) request(i uint32, s *session, grant states.Grant, t, budget int64) {
	fallback := grant == states.GrantFallback
	if fallback {
		s.newRT = s.cliRTGen // the model's fallback grant issues no refresh token
	}
	if budget <= 0 {
		r.q.push(t, evResult, i, uint64(codeTimeout)|uint64(uint32(s.d.Flight()))<<32)
		return
	}
	crash := r.window(FaultCrashHolder, t)
	if r.stores != nil {
		r.checkPresent(i, s, fallback, crash == nil, t)
	}
	code, after := r.answer(i, s, fallback, t, budget)
	if crash != nil {
		r.crash(i, s, t, int64(crash.Restart))
		return
	}
	r.q.push(t+after, evResult, i, uint64(code)|uint64(uint32(s.d.Flight()))<<32)
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

// deliver feeds the answer to session i's request to its machine.
func (r *run) deliver(i uint32, aux uint64, t int64) {
	code, flight := uint32(aux), uint32(aux>>32)
	s := r.sess(i)
	if s.down || !s.awaiting || uint32(s.d.Flight()) != flight {
		return // lost with a crashed process, or its attempt is over
	}
	s.awaiting = false
	if r.stores != nil {
		if st := &r.stores[r.famOf(i)]; st.flyer == s.holder {
			st.flyer = 0
		}
	}
	switch code {
	case codeThrottled:
		// Not sent: no answer to record, no grant spent.
		r.step(i, s, states.Input{Kind: states.InThrottled, Flight: s.d.Flight()}, t)
		return
	case codeNoRefresh:
		r.step(i, s, states.Input{Kind: states.InNoRefresh, Flight: s.d.Flight()}, t)
		return
	}
	r.code = code
	fx := r.step(i, s, r.result(s, code, t), t)
	if r.thr != nil && !(fx.Send != states.GrantNone && uint32(fx.Flight) == flight) {
		// The attempt's outcome, once: a refusal followed by the fallback
		// grant is recorded by the fallback's answer, as the runtime does.
		r.thr.Record(r.clock(t), r.answers[code].accepted)
	}
}

// result is the machine's input for the answer code to the attempt under
// way, which arrived at ans, and makes the refresh token it carries the one
// an installation installs.
func (r *run) result(s *session, code uint32, ans int64) states.Input {
	in := states.Input{Kind: states.InResult, Verdict: r.answers[code].verdict, Flight: s.d.Flight()}
	if code != codeOK {
		return in
	}
	// The server issued the pair when the request arrived, one latency
	// before the answer. The model's fallback grant issues no refresh
	// token; a rotating server's refresh does.
	srv := ans - r.latency
	in.Issued = r.clock(ans)
	in.Expiry = in.Issued.Add(time.Duration(r.ttl))
	if r.sc.Token.OmitExpiresIn {
		// exp and iat are claims written on the server's clock.
		in.Issued = epoch.Add(time.Duration(srv))
		in.Expiry = epoch.Add(time.Duration(srv + r.ttl))
	}
	in.Rotated = s.newRT != s.cliRTGen
	r.pendIssued, r.pendRT = srv, s.newRT
	return in
}
