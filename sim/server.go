package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// send models one refresh request of session i sent at t: the token server
// (behind its proxy and its faults) decides the answer now, and the client
// observes it after the latency, or gives up at its request timeout.
func (r *run) send(i uint32, s *session, t int64) {
	s.inflight, s.sentAt = true, t
	r.stats.RefreshRequests++
	code, after := r.answer(i, s, t)
	r.q.push(t+after, evResult, i, uint64(code))
}

// answer returns the outcome code of a refresh request arriving at t and
// how long the client waits for it.
func (r *run) answer(i uint32, s *session, t int64) (code uint32, after int64) {
	lat := r.latency
	if f, idx := r.fault(t); f != nil {
		switch f.Kind {
		case FaultHang:
			return codeTimeout, r.timeout
		case FaultRefused:
			return codeRefused, 0
		case FaultStatus:
			code = codeFault + uint32(idx)
		case FaultHTML200:
			code = codeHTML
		case FaultMalformed:
			code = codeMalformed
		case FaultLostResponse:
			r.refresh(i, s, t) // done server-side; the answer is lost
			code = codeLost
		case FaultRevoke:
			code = codeInvalidGrant
		}
		return r.late(code, lat)
	}
	if c := int64(r.sc.Fleet.ServerCapacity); c > 0 {
		if b := t / int64(time.Second); b != r.capBucket {
			r.capBucket, r.capCount = b, 0
		}
		r.capCount++
		if r.capCount > c {
			return r.late(codeOverload, lat)
		}
	}
	return r.late(r.refresh(i, s, t), lat)
}

// late turns an answer slower than the request timeout into a timeout.
func (r *run) late(code uint32, lat int64) (uint32, int64) {
	if lat >= r.timeout {
		return codeTimeout, r.timeout
	}
	return code, lat
}

// fault returns the first fault that decides refresh answers at t.
func (r *run) fault(t int64) (*Fault, int) {
	fs := r.sc.Server.Faults
	for i := range fs {
		if fs[i].Kind != FaultRejectAccess && fs[i].covers(time.Duration(t)) {
			return &fs[i], i
		}
	}
	return nil, -1
}

// refresh is the token server proper: it checks the presented refresh
// token and, when it is good, issues a new pair (rotating the refresh token
// when the scenario says so).
func (r *run) refresh(i uint32, s *session, t int64) uint32 {
	f := &r.fams[r.famOf(i)]
	cur := s.cliRTGen == f.rtGen && (r.refreshTTL == 0 || t < f.rtIssued+r.refreshTTL)
	// A retired token is accepted for reuse_grace after its retirement.
	graced := r.sc.Token.Rotate && s.cliRTGen < f.rtGen && t < f.rtRetiredAt+r.grace
	if !cur && !graced {
		return codeInvalidGrant
	}
	if r.sc.Token.Rotate {
		if f.rtGen == s.cliRTGen {
			f.rtRetiredAt = t // the client's token retires now
		}
		f.rtGen++
		f.rtIssued = t
	}
	return codeOK
}

// deliver feeds the answer to session i's refresh to its machine.
func (r *run) deliver(i uint32, code uint32, t int64) {
	s := &r.ss[i]
	s.inflight = false
	in := states.Input{Kind: states.InResult, Verdict: r.answers[code].verdict, Flight: s.d.Flight}
	if code == codeOK {
		in.Issued = r.clock(t)
		in.Expiry = in.Issued.Add(time.Duration(r.ttl))
		if r.sc.Token.OmitExpiresIn {
			// exp and iat are claims written on the server's clock.
			in.Issued = epoch.Add(time.Duration(s.sentAt))
			in.Expiry = epoch.Add(time.Duration(s.sentAt + r.ttl))
		}
	}
	if r.tl != nil {
		r.tl.attempt(i, s.sentAt, t, r.answers[code].verdict.Class)
	}
	if code == codeOK {
		// As the runtime does: a rotating server retired the old refresh
		// token the moment it issued this pair, so the client keeps the new
		// one even when the machine refuses the access token (an expiry
		// that did not advance).
		s.cliRTGen = r.fams[r.famOf(i)].rtGen
	}
	r.code = code
	r.step(i, s, in, t)
}
