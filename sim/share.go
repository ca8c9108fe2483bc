package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// The processes of one family with share: store follow the runtime's
// coordination protocol (session.Coordinator) step for step. Each attempt
// the machine starts:
//
//  1. reads the family (one round trip); a newer generation is adopted;
//  2. acquires the lease; while another holder's runs, the machine waits
//     (InBusy), adopts what the holder publishes (its Wait returns one
//     round trip after the publish) or takes over when the lease lapses;
//  3. reads again; a newer generation is adopted and the lease released;
//  4. meets an in-flight mark another holder left on the current
//     generation: Machine.Orphaned says replay, fall back or revoke;
//  5. marks its refresh in flight (one round trip) and sends it;
//  6. publishes the new pair by compare-and-swap on the generation (one
//     round trip), releasing the lease and clearing the mark, then feeds
//     the answer to the machine; waiting processes adopt the pair;
//  7. after a transient failure keeps the lease through its retry (one
//     round trip extends it; it also clears the mark unless the refresh
//     token may have been spent); after give-up, postpone or deny releases
//     the lease and clears the mark (only a holder that vanished leaves
//     one behind);
//  8. fails transiently ("shared store unreachable") when a round trip
//     meets a store_down window: Machine.Solo is false without the
//     runtime's opt-in, which the scenario format does not offer;
//  9. after the server refused its refresh token, reads the family again
//     as the machine asks (Config.Shared, Effects.Reread): a newer
//     generation is adopted, otherwise the refusal stands, and a store
//     that is down makes it a transient failure.
//
// A round trip takes share.latency and acts on the store when it arrives;
// the read of step 9 is the one taken as instantaneous (it is counted as a
// store request), since it only decides between outcomes that take effect
// at once.

// The steps of an attempt (session.step).
const (
	stepNone    uint8 = iota
	stepRead          // 1: read the family
	stepAcquire       // 2: take the lease
	stepReread        // 3: read again under the lease
	stepMark          // 5: mark the refresh in flight
	stepSend          // the request is at the token endpoint
	stepPublish       // 6: publish the new pair
)

// A holder's follow-ups after an attempt (evStoreOp).
const (
	opKeep         uint8 = iota // keep the lease through the retry
	opKeepClear                 // the same, and clear the mark
	opRelease                   // release the lease
	opReleaseClear              // release the lease and clear the mark
)

// Causes of the transitions the model makes outside a refresh.
const (
	causeAdopt        = "pair published by another process"
	causeRestartStore = "process restarted after a crash, with the shared store's pair"
	causeRestartOwn   = "process restarted after a crash, with its own copy of the pair"
)

// newHolder returns a holder identity for a new process incarnation.
func (r *run) newHolder() uint32 {
	r.holders++
	return r.holders
}

// trip sends the round trip of step to the store at t.
func (r *run) trip(i uint32, s *session, step uint8, t int64) {
	s.step = step
	r.stats.StoreRequests++
	r.q.push(t+r.slat, evStore, i, s.d.Flight<<8|uint64(step))
}

// storeDown reports whether the shared store is unreachable at t.
func (r *run) storeDown(t int64) bool { return r.window(FaultStoreDown, t) != nil }

// atStore performs the round trip aux of session i's attempt, which
// reaches the store at t.
func (r *run) atStore(i uint32, aux uint64, t int64) {
	s := r.sess(i)
	step := uint8(aux)
	if s.down || !s.inflight || s.step != step || s.d.Flight != aux>>8 {
		return
	}
	fi := r.famOf(i)
	st := &r.stores[fi]
	if r.storeDown(t) {
		code := codeStoreDown
		if step == stepPublish {
			code = codeStoreUnpublished
		}
		r.conclude(i, s, code, r.plain(s, code), t)
		return
	}
	switch step {
	case stepRead:
		if st.gen > s.gen {
			r.adopt(i, s, st, t)
			return
		}
		r.trip(i, s, stepAcquire, t)
	case stepAcquire:
		if st.leaseHolder != 0 && st.leaseHolder != s.holder && t < st.leaseUntil {
			// Another holder's lease; Wait is one more round trip, which
			// returns when that holder publishes (see publish).
			s.inflight, s.step, s.held, s.marked = false, stepNone, false, false
			r.stats.StoreRequests++
			r.step(i, s, states.Input{Kind: states.InBusy, Flight: s.d.Flight, Until: r.clock(st.leaseUntil)}, t)
			return
		}
		st.leaseHolder, st.leaseUntil, s.held = s.holder, t+r.lease, true
		r.trip(i, s, stepReread, t)
	case stepReread:
		if st.gen > s.gen {
			r.adopt(i, s, st, t)
			return
		}
		if s.fb == fbNone && st.markHolder != 0 && st.markHolder != s.holder && st.markGen == st.gen {
			switch r.m.Orphaned(r.clock(st.markAt), r.clock(t)) {
			case states.OrphanFallback:
				s.fb = fbOrphan
			case states.OrphanRevoke:
				in := r.plain(s, codeOrphan)
				in.Reread = states.RereadSame // the family was just read
				r.conclude(i, s, codeOrphan, in, t)
				return
			}
		}
		r.trip(i, s, stepMark, t)
	case stepMark:
		if st.leaseHolder != s.holder || t >= st.leaseUntil {
			s.held = st.leaseHolder == s.holder
			r.conclude(i, s, codeLeaseLost, r.plain(s, codeLeaseLost), t)
			return
		}
		// A mark on the same generation keeps its first instant: the token
		// may have been retired since then, and Machine.Orphaned measures
		// the reuse grace from the mark.
		if st.markHolder == 0 || st.markGen != s.gen {
			st.markAt, st.markGen = t, s.gen
		}
		st.markHolder, s.marked = s.holder, true
		r.send(i, s, t)
	case stepPublish:
		r.publish(i, s, fi, st, t)
	}
}

// publish stores the pair session i obtained, whose answer arrived one
// round trip ago, and feeds it to the machine.
func (r *run) publish(i uint32, s *session, fi uint32, st *store, t int64) {
	in := r.result(s, codeOK, t-r.slat)
	s.inflight, s.step = false, stepNone
	r.code = codeOK
	fx := r.step(i, s, in, t)
	if succeeded(&fx) && st.gen == s.gen {
		st.gen++
		s.gen = st.gen
		st.pubRT, st.pubTok, st.pubDead = s.cliRTGen, s.tokGen, s.rtDead
		st.pubIssued, st.pubExpiry, st.pubTokIssued = int64(s.d.Issued.Sub(epoch)), int64(s.d.Expiry.Sub(epoch)), s.tokIssued
		if st.leaseHolder == s.holder {
			st.leaseHolder, st.leaseUntil = 0, 0
		}
		st.markHolder = 0
		s.held, s.marked = false, false
		lo, hi := r.famRange(fi)
		for j := lo; j < hi; j++ {
			if w := r.sess(j); w.d.State == states.Waiting && !w.down {
				r.q.push(t+r.slat, evAdopt, j, 0)
			}
		}
	}
	if s.held && !s.inflight {
		// The machine refused the pair (an expiry that did not advance) or
		// another pair was published meanwhile: it keeps the new refresh
		// token, which the store does not know.
		r.afterAttempt(i, s, t)
	}
}

// reread reads the family again after the server refused session i's
// refresh token (in), as the machine asked: a newer generation is adopted;
// otherwise the refusal goes back to the machine with what the store held.
func (r *run) reread(i uint32, s *session, in states.Input, t int64) {
	r.stats.StoreRequests++
	st := &r.stores[r.famOf(i)]
	switch {
	case r.storeDown(t):
		in.Reread, in.Cause = states.RereadFailed, storeDownNote
	case st.gen > s.gen:
		r.adopt(i, s, st, t)
		return
	default:
		in.Reread = states.RereadSame
	}
	r.step(i, s, in, t)
}

// storeDownNote says why a refusal could not be checked against the store.
const storeDownNote = "shared store unreachable"

// plain is the machine's input for a failure of the coordination itself.
func (r *run) plain(s *session, code uint32) states.Input {
	return states.Input{Kind: states.InResult, Verdict: r.answers[code].verdict, Flight: s.d.Flight}
}

func succeeded(fx *states.Effects) bool {
	for _, tr := range fx.Transitions() {
		if tr.Event == states.Succeed {
			return true
		}
	}
	return false
}

// adopt installs the pair the store publishes as generation st.gen.
func (r *run) adopt(i uint32, s *session, st *store, t int64) {
	if s.held {
		r.release(i, s, t)
	}
	s.inflight, s.step = false, stepNone
	s.gen, s.cliRTGen, s.rtDead = st.gen, st.pubRT, st.pubDead
	r.pendTok, r.pendIssued = st.pubTok, st.pubTokIssued
	r.step(i, s, states.Input{Kind: states.InAdopt, Issued: epoch.Add(time.Duration(st.pubIssued)),
		Expiry: epoch.Add(time.Duration(st.pubExpiry)), Cause: causeAdopt}, t)
}

// woken is a waiting process's Wait returning after a publish.
func (r *run) woken(i uint32, t int64) {
	s := r.sess(i)
	if st := &r.stores[r.famOf(i)]; !s.down && s.d.State == states.Waiting && st.gen > s.gen {
		r.adopt(i, s, st, t)
	}
}

// afterAttempt is the holder's follow-up once the machine took in a failed
// attempt: keep the lease through the retry, or release it.
func (r *run) afterAttempt(i uint32, s *session, t int64) {
	clear := s.marked && !s.d.MaybeConsumed
	if s.d.State == states.Backoff {
		op := opKeep
		if clear {
			op, s.marked = opKeepClear, false
		}
		r.storeOp(i, s, op, t)
		return
	}
	r.release(i, s, t)
}

// release gives up the lease and, as the runtime does, clears the mark: a
// live holder that gives up would present the same token at its next
// cycle, so its mark would only make the next holder revoke itself.
func (r *run) release(i uint32, s *session, t int64) {
	op := opRelease
	if s.marked {
		op = opReleaseClear
	}
	s.held, s.marked = false, false
	r.storeOp(i, s, op, t)
}

// storeOp sends a holder's follow-up to the store.
func (r *run) storeOp(i uint32, s *session, op uint8, t int64) {
	r.stats.StoreRequests++
	r.q.push(t+r.slat, evStoreOp, i, uint64(s.holder)<<8|uint64(op))
}

// atStoreOp performs a holder's follow-up, which reaches the store at t
// (or is lost while it is down).
func (r *run) atStoreOp(i uint32, aux uint64, t int64) {
	holder, op := uint32(aux>>8), uint8(aux)
	if r.storeDown(t) {
		return
	}
	st := &r.stores[r.famOf(i)]
	if st.leaseHolder == holder {
		switch s := r.sess(i); op {
		case opKeep, opKeepClear:
			if s.holder == holder && s.d.State == states.Backoff && !s.d.NextAt.IsZero() {
				st.leaseUntil = max(st.leaseUntil, r.virtual(s.d.NextAt)+r.lease)
			}
		default:
			st.leaseHolder, st.leaseUntil = 0, 0
		}
	}
	if (op == opKeepClear || op == opReleaseClear) && st.markHolder == holder {
		st.markHolder = 0
	}
}

// checkPresent checks the family's invariants when session i sends a
// request at t: at most one refresh of the family in flight (a crashed
// holder's excepted; live reports that this one will not crash), and never
// a refresh token presented that the store knows to be retired.
func (r *run) checkPresent(i uint32, s *session, fallback, live bool, t int64) {
	st := &r.stores[r.famOf(i)]
	if live {
		if st.flyer != 0 && st.flyer != s.holder {
			r.inv.violate(t, i, "one refresh of a family in flight", "a refresh sent while another process's was in flight")
		}
		st.flyer = s.holder
	}
	if !fallback && st.gen > 0 && (s.cliRTGen < st.pubRT || s.cliRTGen == st.pubRT && st.pubDead) {
		r.inv.violate(t, i, "no retired refresh token presented", "presented a refresh token the shared store knows is retired")
	}
}

// crash ends session i's process at t, right after it sent a refresh; it
// comes back after restart.
func (r *run) crash(i uint32, s *session, t, restart int64) {
	s.down, s.inflight, s.step, s.held, s.marked = true, false, stepNone, false, false
	s.wakeAt = -1
	if r.plainTo != nil {
		r.plainTo[s.slot] = 0
	}
	if done := max(s.served, s.timedOut); s.waitTicket > done {
		// The calls waiting for a token die with the process.
		n := int64(s.waitTicket - done)
		s.timedOut = s.waitTicket
		r.fail(i, n, t)
	}
	s.usableEnd = min(s.usableEnd, t)
	r.q.push(t+restart, evRestart, i, 0)
}

// restart brings session i's crashed process back at t, with the shared
// store's pair (one round trip) or, without one, its own copy: the pair it
// held before the crash, whose refresh token the server may have rotated.
func (r *run) restart(i uint32, t int64) {
	s := r.sess(i)
	s.down, s.rtDead = false, false
	issued, expiry, cause := s.d.Issued, s.d.Expiry, causeRestartOwn
	r.pendTok, r.pendIssued = s.tokGen, s.tokIssued
	if r.stores != nil {
		s.holder = r.newHolder()
		r.stats.StoreRequests++
		if st := &r.stores[r.famOf(i)]; st.gen > 0 && !r.storeDown(t) {
			s.gen, s.cliRTGen, s.rtDead = st.gen, st.pubRT, st.pubDead
			r.pendTok, r.pendIssued = st.pubTok, st.pubTokIssued
			issued, expiry = epoch.Add(time.Duration(st.pubIssued)), epoch.Add(time.Duration(st.pubExpiry))
			cause = causeRestartStore
		}
	}
	r.step(i, s, states.Input{Kind: states.InSetToken, Issued: issued, Expiry: expiry, Cause: cause}, t)
}
