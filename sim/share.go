package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// The processes of one family with share: store run the family's protocol
// (states/protocol.go): the machine decides every step, and the model only
// performs the store operation it asks for (Effects.Store) as one round
// trip of share.latency, acting on the store when it arrives, and feeds
// what it found back, exactly as the runtime does with a
// session.Coordinator. A round trip that meets a store_down window is fed
// as InStoreDown; a lease follow-up (Effects.Lease) is lost in it. The
// family's watch (Effects.Watch, and Effects.WatchLogout, which the model
// serves for the publishes it sees, modelling no logout) is the store's
// notification: a publish or a release wakes every process that watches,
// one round trip later. The store is a plain session.Coordinator, as
// conform's is: no session.FamilyAcquirer, whose acquire on the generation
// read would spare a late process the lease, and the holder its read under
// the lease.

// newHolder returns a holder identity for a new process incarnation.
func (r *run) newHolder() uint32 {
	r.holders++
	return r.holders
}

// storeAux packs a round trip's flight, generation and operation.
func storeAux(flight, gen uint64, op states.StoreOp) uint64 {
	return uint64(uint32(flight))<<32 | (gen&0xffffff)<<8 | uint64(op)
}

// trip sends the store operation op of session i's flight to the store at t.
func (r *run) trip(i uint32, s *session, op states.StoreOp, flight, gen uint64, t int64) {
	r.stats.StoreRequests++
	r.q.push(t+r.slat, evStore, i, storeAux(flight, gen, op))
}

// storeDown reports whether the shared store is unreachable at t.
func (r *run) storeDown(t int64) bool { return r.window(FaultStoreDown, t) != nil }

// atStore performs the round trip aux of session i, which reaches the
// store at t. An operation of an attempt that is over is not performed, as
// the runtime cancels it.
func (r *run) atStore(i uint32, aux uint64, t int64) {
	s := r.sess(i)
	op, gen := states.StoreOp(aux&0xff), (aux>>8)&0xffffff
	if s.down || uint32(aux>>32) != uint32(s.d.Flight()) {
		return
	}
	in := states.Input{Flight: s.d.Flight()}
	fi := r.famOf(i)
	st := &r.stores[fi]
	if r.storeDown(t) {
		// The model's store is down as a refused connection is (the
		// error the runtime's store reports, which the cause quotes).
		in.Kind, in.Detail = states.InStoreDown, errRefused.Error()
		r.step(i, s, in, t)
		return
	}
	switch op {
	case states.StoreRead:
		r.read(s, st, &in, t)
	case states.StoreAcquire:
		if st.leaseHolder != 0 && st.leaseHolder != s.holder && t < st.leaseUntil {
			in.Kind, in.Until = states.InBusy, r.clock(st.leaseUntil)
			break
		}
		in.Kind = states.InLeaseHeld
		st.leaseHolder, st.leaseUntil = s.holder, t+r.lease
	case states.StoreMark:
		if st.leaseHolder != s.holder || t >= st.leaseUntil {
			in.Kind = states.InLeaseLost
			break
		}
		// A mark on the same generation keeps its first instant: the token
		// may have been retired since then, and Machine.Orphaned measures
		// the reuse grace from the mark.
		if st.markHolder == 0 || uint64(st.markGen) != gen {
			st.markAt, st.markGen = t, uint32(gen)
		}
		in.Kind, st.markHolder = states.InMarked, s.holder
	case states.StorePublish, states.StoreSeed:
		if uint64(st.gen)&0xffffff != gen {
			in.Kind = states.InGenMoved
			break
		}
		st.gen++
		st.pubRT, st.pubTok, st.pubDead = s.cliRTGen, s.tokGen, s.d.RefreshDead()
		st.pubIssued, st.pubExpiry, st.pubTokIssued = int64(s.d.Issued().Sub(epoch)), int64(s.d.Expiry().Sub(epoch)), s.tokIssued
		if st.leaseHolder == s.holder {
			st.leaseHolder, st.leaseUntil = 0, 0
		}
		st.markHolder = 0
		in.Kind, in.Generation = states.InPublished, uint64(st.gen)
		r.notify(fi, t, true)
	}
	r.step(i, s, in, t)
}

// read fills in with what session i finds in the family's store at t, and
// makes its pair the one an adoption installs.
func (r *run) read(s *session, st *store, in *states.Input, t int64) {
	in.Kind, in.Generation = states.InFamily, uint64(st.gen)
	if st.gen > 0 {
		in.Issued, in.Expiry = epoch.Add(time.Duration(st.pubIssued)), epoch.Add(time.Duration(st.pubExpiry))
		in.Own, in.NoRefresh = st.pubTok == s.tokGen, st.pubDead
	}
	if st.leaseHolder != 0 && st.leaseHolder != s.holder && t < st.leaseUntil {
		in.Until = r.clock(st.leaseUntil)
	}
	if st.markHolder != 0 && st.markHolder != s.holder {
		in.Marked, in.MarkGeneration, in.MarkedAt = true, uint64(st.markGen), r.clock(st.markAt)
	}
	r.pendTok, r.pendIssued, r.pendRT = st.pubTok, st.pubTokIssued, st.pubRT
}

// notify wakes the live processes of family f that watch it: after a
// publish every one (a waiting one, one revoked by the server, one without
// a token yet, and one that holds the family's pair and watches it for a
// logout, which adopts a newer pair at once), after a release the waiting
// ones, whose watch reports the lease too (Effects.WatchLease); the others
// wait for a newer pair alone (session.GenerationWaiter). Their Waits
// return one round trip after t, in the order of the processes
// (docs/SCENARIOS.md).
func (r *run) notify(f uint32, t int64, publish bool) {
	lo, hi := r.famRange(f)
	for j := lo; j < hi; j++ {
		if w := r.sess(j); !w.down && (publish && r.watches(&w.d) || r.m.WatchingLease(&w.d)) {
			r.q.push(t+r.slat, evWatch, j, 0)
		}
	}
}

// watched is a watching process's Wait returning at t: it reports the
// family as it is then.
func (r *run) watched(i uint32, t int64) {
	s := r.sess(i)
	if s.down || !r.watches(&s.d) {
		return
	}
	var in states.Input
	r.read(s, &r.stores[r.famOf(i)], &in, t)
	if fx := r.step(i, s, in, t); fx.Watch || fx.WatchLogout {
		r.stats.StoreRequests++ // it waits again
	}
}

// watches reports whether a session watches its family (Effects.Watch or
// Effects.WatchLogout).
func (r *run) watches(d *states.Data) bool { return r.m.Watching(d) || r.m.WatchingLogout(d) }

// leaseOp sends session i's lease follow-up (Effects.Lease) to the store.
func (r *run) leaseOp(i uint32, s *session, op states.LeaseOp, clearMark bool, t int64) {
	aux := uint64(s.holder)<<8 | uint64(op)<<1
	if clearMark {
		aux |= 1
	}
	r.stats.StoreRequests++
	r.q.push(t+r.slat, evStoreOp, i, aux)
}

// atStoreOp performs a lease follow-up, which reaches the store at t (or
// is lost while it is down). A lease kept through a retry runs to the
// retry's instant plus the lease (Effects.For, measured from the store's
// clock when it arrives).
func (r *run) atStoreOp(i uint32, aux uint64, t int64) {
	holder, op, clearMark := uint32(aux>>8), states.LeaseOp(aux>>1&0x7f), aux&1 == 1
	if r.storeDown(t) {
		return
	}
	fi := r.famOf(i)
	st := &r.stores[fi]
	if clearMark && st.markHolder == holder {
		st.markHolder = 0
	}
	if st.leaseHolder != holder {
		return
	}
	switch s := r.sess(i); op {
	case states.LeaseKeep:
		if s.holder == holder && s.d.State() == states.Backoff && !s.d.NextAt().IsZero() {
			st.leaseUntil = max(st.leaseUntil, r.virtual(s.d.NextAt())+r.lease)
		}
	case states.LeaseRelease:
		st.leaseHolder, st.leaseUntil = 0, 0
		r.notify(fi, t, false)
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
// starts again after restart (begin). Its machine is left as it was until
// then: the new incarnation's replaces it.
func (r *run) crash(i uint32, s *session, t, restart int64) {
	s.down, s.awaiting = true, false
	s.wakeAt = -1
	if r.plainTo != nil {
		r.setPlain(s, 0)
	}
	if done := max(s.served, s.timedOut); s.waitTicket > done {
		// The calls waiting for a token die with the process.
		n := int64(s.waitTicket - done)
		s.timedOut = s.waitTicket
		r.fail(i, n, t)
	}
	s.usableEnd = min(s.usableEnd, t)
	r.q.push(t+restart, evStart, i, 0)
}
