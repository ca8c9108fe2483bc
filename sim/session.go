package sim

import (
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// session is one simulated client session plus the server's records about
// it. It holds no pointers besides those inside states.Data, and no slices,
// so that a million of them are one flat allocation.
type session struct {
	d states.Data

	start  int64 // virtual instant the session begins
	wakeAt int64 // the armed wake-up, or -1
	since  int64 // when the current state was entered
	sentAt int64 // when the refresh in flight was sent

	// usableEnd is when the held token stops being usable: its expiry on
	// the client's clock, or the instant it was rejected or revoked.
	usableEnd int64

	// The access token the client holds: the server time it was issued at
	// and its number among its family's (family.tokSeq).
	tokIssued int64
	tokGen    uint32
	// cliRTGen is the number of the refresh token the client holds; newRT
	// that of the refresh token the answer in flight carries.
	cliRTGen, newRT uint32
	// sentFlight is the (low half of the) flight whose request was sent at
	// sentAt: a request that follows within it (the fallback grant) has what
	// is left of its timeout.
	sentFlight uint32

	// With a shared store, holder identifies this incarnation of the
	// process in the store (a crash makes a new one).
	holder uint32

	// Waiting application calls hold tickets 1..waitTicket; those up to
	// served got a token, those up to timedOut failed.
	// They are 64-bit: a busy session can queue more than 2^32 calls in
	// one run, and a wrapped ticket undercounts the failed ones.
	waitTicket, served, timedOut uint64

	// pendFirst is the first ended fault window (in end order) this session
	// was touched by and has not recovered from, or -1.
	pendFirst int32
	// awaiting: a request of the attempt under way awaits its answer.
	awaiting bool
	// revokedPending: revoked while a fault window waited for its
	// recovery, which only an adopted pair may still bring (recovery.go).
	revokedPending bool
	// down: crashed, not restarted yet; started: begun (a spread fleet's
	// sessions begin over start_spread).
	down, started bool
	// slot is the session's index in run.plainTo (see assignSlots).
	slot uint32
	// firstTok is the number of the access token the process started
	// with (tokGen at its first start), which it starts with again after
	// a crash (restart).
	firstTok uint32
	// plainTo is run.plainTo[slot], at hand where the session is.
	plainTo int64
	// c0 is the chain of its calls of the first periodic workload entry
	// (chain.go); the others' are in run.chains.
	c0 chain
}

// begin starts session i's process at t (evStart), or starts it again
// after a crash (restart): as the runtime's process calls session.New, with
// the pair it was given (none for a process without a token,
// fleet.without_token), or, without a shared store, with the one its own
// store kept. docs/SCENARIOS.md says what a restart is.
func (r *run) begin(i uint32, t int64, aux uint64) {
	s := r.sess(i)
	tokenless := r.tokenless(i)
	var st *store
	if r.stores != nil {
		st = &r.stores[r.famOf(i)]
	}
	if tokenless && st != nil {
		if aux == 0 {
			// As a runtime session started without a token does
			// (session.New), it reads its family's store first: one round
			// trip, after which it begins.
			r.stats.StoreRequests++
			r.q.push(t+r.slat, evStart, i, 1)
			return
		}
		if r.storeDown(t) {
			// session.New cannot read the family: the process does not
			// start, and its supervisor starts it again StartRetry later.
			r.q.push(t+int64(StartRetry), evStart, i, 0)
			return
		}
	}
	restart, end := s.down, s.usableEnd
	if restart {
		started := t // the instant its session.New began
		if tokenless && st != nil {
			started -= r.slat
		}
		r.endIncarnation(i, s, started, t)
	} else {
		s.start, s.started, s.pendFirst = t, true, -1
	}
	s.wakeAt, s.since = -1, t
	if st != nil {
		s.holder = r.newHolder()
	}
	switch {
	case tokenless && st != nil && st.gen > 0:
		// The family published a pair already: it starts with that one.
		s.tokGen, s.tokIssued, s.cliRTGen = st.pubTok, st.pubTokIssued, st.pubRT
		issued, expiry := epoch.Add(time.Duration(st.pubIssued)), epoch.Add(time.Duration(st.pubExpiry))
		opts := []states.DataOption{states.StartGeneration(uint64(st.gen))}
		if st.pubDead {
			opts = append(opts, states.StartWithoutRefresh())
		}
		s.d = s.d.Restarted(issued, expiry, opts...)
		s.usableEnd = max(r.virtual(expiry), t)
	case tokenless:
		// No token at all (fleet.without_token): nothing to present.
		var zero time.Time
		s.tokGen, s.tokIssued, s.cliRTGen = 0, 0, 0
		s.d = s.d.Restarted(zero, zero, states.StartWithoutRefresh())
		s.usableEnd = t
	case restart && st == nil:
		// Its own store's pair, the one it held last (endIncarnation).
	default:
		if !restart {
			f := &r.fams[r.famOf(i)]
			if f.rtGen == 0 {
				f.rtGen, f.rtIssued = 1, t // the family's first process starts it
			}
			f.tokSeq++
			s.firstTok = f.tokSeq
		}
		// The pair the process was given, again after a crash: every
		// process of a family starts with its first refresh token.
		s.tokGen, s.tokIssued, s.cliRTGen = s.firstTok, s.start, 1
		issued, expiry := r.clock(s.start), r.clock(s.start).Add(time.Duration(r.ttl))
		if r.sc.Token.OmitExpiresIn {
			// The client learns the expiry from the JWT's exp claim, which
			// the server wrote on its own clock.
			issued, expiry = epoch.Add(time.Duration(s.start)), epoch.Add(time.Duration(s.start+r.ttl))
		}
		var opts []states.DataOption
		if st != nil {
			// The application's pair, in a family (session.New with a
			// coordinator): the store may hold a newer one, which the
			// first read weighs by its expiry.
			opts = append(opts, states.StartWithOwnPair())
		}
		s.d = s.d.Restarted(issued, expiry, opts...)
		s.usableEnd = r.virtual(expiry)
	}
	if restart {
		s.usableEnd = end // when the crashed incarnation's token stopped being usable
		r.gotToken(i, s, s.tokGen, s.tokIssued, t)
	} else {
		r.stats.started++
	}
	// The initial state is entered at the start, not by a transition:
	// never_states and time_in_state must count it too.
	r.entered[s.d.State()] = true
	r.blame.enter(i, s.d.State())
	if r.tl != nil {
		r.tl.begin(i, s.d.State(), t)
	}
	r.step(i, s, states.Input{Kind: states.InWake}, t)
	if !restart {
		r.scheduleWork(i, s)
	}
}

// endIncarnation ends the crashed incarnation of session i's process when
// the process, started again at started, begins at t. The time in its last state ends there, and the new incarnation's
// session is a new one: its random source is seeded anew (RestartSeed), as
// conform's runtime seeds its new Session, and it holds its own store's
// pair, the one the process held last (what begin starts it with without a
// shared store).
func (r *run) endIncarnation(i uint32, s *session, started, t int64) {
	// Its flights count from 0 again: no request of the crashed one's is
	// its own (sentFlight).
	s.down, s.sentFlight = false, 0
	if r.restarts == nil {
		r.restarts = map[uint32]int32{}
	}
	r.restarts[i]++
	r.timeIn[s.d.State()].add(t - s.since)
	if r.tl != nil {
		r.tl.leave(i, s.d.State(), t)
	}
	var opts []states.DataOption
	if s.d.RefreshDead() {
		opts = append(opts, states.StartWithoutRefresh()) // saved without one
	}
	s.d = states.NewData(RestartSeed(r.sc, int(i), time.Duration(started)), s.d.Issued(), s.d.Expiry(), opts...)
}

// step feeds in to session i's machine at virtual time t and performs the
// effects, exactly as the runtime does: record the transitions, install,
// perform the store operation or send the request it asks for, arm its
// wake-up, and hand a usable token to waiting calls.
func (r *run) step(i uint32, s *session, in states.Input, t int64) states.Effects {
	now := r.clock(t)
	prev := s.d.State()
	var fx states.Effects
	watching := r.stores != nil && r.watches(&s.d)
	r.m.Apply(&s.d, &in, now, &fx)
	if r.stores != nil && !watching && (fx.Watch || fx.WatchLogout) {
		r.stats.StoreRequests++ // the watch's Wait
	}
	for _, tr := range fx.Transitions() {
		r.transition(i, s, tr, &prev, t)
	}
	r.perform(i, s, &fx, t)
	if s.down {
		return fx // crashed right after sending
	}
	if fx.WakeAt.IsZero() {
		s.wakeAt = -1
	} else if w := max(r.virtual(fx.WakeAt), t); w != s.wakeAt {
		s.wakeAt = w
		if s.d.State() == states.Backoff {
			// A retry's delay is drawn at random (jitter): in a lane it
			// would hold back the constant delays behind it.
			r.q.pushHeap(w, evWake, i, 0)
		} else {
			r.q.push(w, evWake, i, 0)
		}
	}
	if s.waitTicket > max(s.served, s.timedOut) && s.d.Usable(now) {
		n := s.waitTicket - max(s.served, s.timedOut)
		s.served = s.waitTicket
		r.judge(i, s, int64(n), t)
	}
	if r.plainTo != nil {
		r.setPlain(s, r.plainUntil(i, s, t))
	}
	return fx
}

// gotToken does the bookkeeping of session i's new token, access token
// number tok issued by the server at issued: the time it went without one,
// and its recovery from fault windows.
func (r *run) gotToken(i uint32, s *session, tok uint32, issued, t int64) {
	if gap := t - s.usableEnd; gap > 0 {
		r.unusable.add(gap)
	}
	if r.tl != nil {
		r.tl.token(i, s.usableEnd, t)
	}
	s.tokGen, s.tokIssued = tok, issued
	// An adopted or restored pair may have expired already.
	s.usableEnd = max(r.virtual(s.d.Expiry()), t)
	if s.usableEnd > t {
		r.rec.usable(i, s, t)
	}
}

// transition does the bookkeeping of one state change.
func (r *run) transition(i uint32, s *session, tr states.Transition, prev *states.State, t int64) {
	if to, ok := states.Next(tr.From, tr.Event); !ok || to != tr.To || tr.From != *prev {
		r.inv.violate(t, i, "every transition is legal", "transition "+tr.From.String()+" -"+tr.Event.String()+"-> "+tr.To.String()+" from state "+prev.String())
	}
	*prev = tr.To
	r.stats.Transitions++
	r.timeIn[tr.From].add(t - s.since)
	s.since = t
	r.entered[tr.To] = true
	r.blame.enter(i, tr.To)
	if r.tl != nil {
		r.tl.transition(i, tr, t)
	}
	switch tr.Event {
	case states.Succeed:
		r.stats.RefreshSuccesses++
		f := &r.fams[r.famOf(i)]
		f.tokSeq++
		r.gotToken(i, s, f.tokSeq, r.pendIssued, t)
	case states.Adopt, states.SetToken, states.LoggedIn:
		r.gotToken(i, s, r.pendTok, r.pendIssued, t)
	case states.Reject:
		s.usableEnd = min(s.usableEnd, t)
	case states.Revoke:
		s.usableEnd = min(s.usableEnd, t)
		r.rec.revoked(i, s)
	case states.Deny:
		s.usableEnd = min(s.usableEnd, t)
		r.rec.revoked(i, s)
		// The one revocation the server does not pronounce is the
		// machine's, rather than present a token a vanished holder may have
		// spent (states.ReasonCrashedHolder); it counts as a refusal.
		if tr.Reason != states.ReasonCrashedHolder && !(tr.Sent && r.answers[r.code].refusal) {
			r.inv.violate(t, i, "transient never revokes", "revoked after "+tr.Cause())
		}
		r.familyLost(i, r.famOf(i))
	case states.NeedLogin:
		// A login is the way back (fleet.login): the session serves
		// nothing and sends nothing until one. After a refusal (or a
		// crashed holder's spent token) the family is lost as by a Deny,
		// and the same invariant holds; with nothing to refresh with, it
		// never had one.
		s.usableEnd = min(s.usableEnd, t)
		if tr.Reason == states.ReasonRefused || tr.Reason == states.ReasonCrashedHolder {
			r.rec.revoked(i, s)
			if tr.Reason != states.ReasonCrashedHolder && !(tr.Sent && r.answers[r.code].refusal) {
				r.inv.violate(t, i, "transient never revokes", "needs a login after "+tr.Cause())
			}
			r.familyLost(i, r.famOf(i))
		}
	}
	if tr.Sent && r.tl != nil {
		r.tl.attempt(i, s.sentAt, t, tr.Class)
	}
	if r.opt.Trace || r.opt.OnTransition != nil || int(i) == r.opt.Session {
		rec := audit.FromTransition(tr)
		rec.Seq = uint64(r.stats.Transitions)
		e := traceEntry(rec, i, t, r)
		if r.opt.Trace {
			r.trace = append(r.trace, e)
		}
		if r.opt.OnTransition != nil {
			r.opt.OnTransition(e)
		}
		if int(i) == r.opt.Session {
			r.story.add(e)
		}
	}
}

// tokenless reports whether session i starts with no token: one of the
// last fleet.without_token processes of its family.
func (r *run) tokenless(i uint32) bool {
	return r.sc.Fleet.WithoutToken > 0 && r.sc.StartsWithoutToken(int(i))
}
