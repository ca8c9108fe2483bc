package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// The family protocol (Config.Coordinated): the processes of one client
// share a refresh-token family through a store (session.Coordinator), and
// the machine decides every step of an attempt; the driver performs the
// store operation or the request the machine asks for (Effects.Store,
// Effects.Send) and reports what it observed as the next input:
//
//  1. read the family (StoreRead → InFamily): a newer generation is
//     adopted; a store that lost its state is reconciled;
//  2. take the lease (StoreAcquire → InLeaseHeld, or InBusy: wait in
//     Waiting, watching the family, and take over when the lease lapses;
//     a read that found another process's lease waits at once), while
//     the family is at the generation read (InFamily when it moved: as
//     step 1, without the lease);
//  3. read again under the lease (StoreRead → InFamily): a newer pair is
//     adopted and the lease released; a store that lost its state is
//     seeded with the session's pair (StoreSeed → InPublished); an
//     in-flight mark another process left on this generation is met as
//     Orphaned says (replay inside the reuse grace, the fallback grant, or
//     revoke rather than risk the family);
//  4. mark the refresh in flight (StoreMark → InMarked, or InLeaseLost);
//  5. send the request (Send → InResult, or InThrottled); a refusal of the
//     refresh token turns to the fallback grant within the attempt when
//     Fallback says so;
//  6. install the new pair and publish it from the generation it replaces
//     (StorePublish → InPublished, or InGenMoved: read, adopt what won);
//  7. after a failure keep the lease through the retry, clearing the mark
//     unless the refresh token may have been spent (LeaseKeep), or give it
//     up (LeaseRelease).
//
// A store that cannot be reached (InStoreDown) before the request fails
// the attempt transiently, paced by the policy, unless Solo lets the
// session refresh alone. After the request it is met as follows: the new
// pair is installed all the same — it is valid, and it holds the only copy
// of a rotated refresh token — and the machine keeps the lease and the
// in-flight mark and asks for the publish again (StorePublish, 1 s, 2 s,
// 4 s … at most PublishRetryMax apart, or first thing in the next
// attempt), so that no process presents the refresh token the new pair
// replaced. Until then Data.Unpublished is true.

// PublishRetryMax bounds the wait between the attempts to publish a pair
// that met the store down (1 s, 2 s, 4 s, … at most this).
const PublishRetryMax = 8 * time.Second

// The steps of an attempt, and of a publish (Data.step).
const (
	stepNone    uint8 = iota
	stepRead          // StoreRead before the lease
	stepAcquire       // StoreAcquire
	stepReread        // StoreRead under the lease
	stepSeed          // StoreSeed
	stepMark          // StoreMark
	stepSend          // the request
	stepPublish       // StorePublish
	stepSetRead       // StoreRead for a re-login's publish
	stepMoved         // StoreRead after a publish lost its compare-and-swap
	stepVerify        // StoreRead after a final refusal (Config.Shared)
)

// Why an attempt uses which grant (Data.fb).
const (
	fbNone      uint8 = iota // the refresh token
	fbReplay                 // the refresh token again, inside the reuse grace
	fbDead                   // the fallback grant: the refresh token was refused before
	fbOrphan                 // the fallback grant: a vanished holder may have spent the token
	fbRefused                // the fallback grant: the refresh token was refused in this attempt
	fbClient                 // the fallback grant: the client was refused in this attempt
	fbNoRefresh              // the fallback grant: there is no refresh token to present
)

// grant is the grant the attempt under way presents.
func (d *Data) grant() Grant {
	switch d.fb {
	case fbNone:
		return GrantRefresh
	case fbReplay:
		return GrantReplay
	}
	return GrantFallback
}

// begin starts an attempt: with the family's protocol its first store
// operation (a pending publish first), else the request.
func (m *Machine) begin(d *Data, fx *Effects) {
	d.flight++
	fx.StartRefresh, fx.Flight = true, d.flight
	d.fb = fbNone
	if d.rtDead && m.fallback {
		d.fb = fbDead
		if d.rtNone {
			d.fb = fbNoRefresh
		}
	}
	switch {
	case !m.coordinated:
		m.send(d, fx)
	case d.unpublished:
		m.publish(d, fx)
	default:
		m.storeOp(d, fx, StoreRead, stepRead)
	}
}

func (m *Machine) send(d *Data, fx *Effects) {
	d.step = stepSend
	fx.Send, fx.Flight = d.grant(), d.flight
}

func (m *Machine) storeOp(d *Data, fx *Effects, op StoreOp, step uint8) {
	d.step = step
	fx.Store, fx.Flight = op, d.flight
	switch op {
	case StoreAcquire:
		fx.For, fx.Generation = m.lease, d.gen
	case StoreMark, StorePublish:
		fx.Generation = d.gen
	}
}

// publish asks for the session's pair to be published: from the
// generation it replaces, or, after a re-login, from whatever the store
// holds (read first).
func (m *Machine) publish(d *Data, fx *Effects) {
	if d.relogin {
		m.storeOp(d, fx, StoreRead, stepSetRead)
		return
	}
	m.storeOp(d, fx, StorePublish, stepPublish)
}

// persist has a new pair saved (a session with a store of its own) or
// published (Config.Coordinated).
func (m *Machine) persist(d *Data, fx *Effects) {
	if !m.coordinated {
		fx.Save, d.unpublished = true, false
		return
	}
	m.publish(d, fx)
}

// republish asks again for a publish that met the store down, once its
// retry is due (Valid only; another state publishes first thing in its
// next attempt).
func (m *Machine) republish(d *Data, fx *Effects, now time.Time) {
	if d.step != stepNone {
		return // a publish is under way
	}
	at := d.issued.Add(d.pubDue)
	if now.Before(at) {
		d.nextAt = minTime(d.nextAt, at)
		return
	}
	m.publish(d, fx)
}

// protocol takes in what a driver observed of the family's store.
func (m *Machine) protocol(d *Data, fx *Effects, in *Input, now time.Time) {
	if in.Kind == InFamily && in.Flight == 0 {
		m.watched(d, fx, in, now)
		return
	}
	if in.Flight != d.flight || d.step == stepNone {
		return // stale: the attempt or the publish it answers is over
	}
	switch in.Kind {
	case InFamily:
		m.read(d, fx, in, now)
	case InLeaseHeld:
		if d.step == stepAcquire {
			d.held = true
			m.storeOp(d, fx, StoreRead, stepReread)
		}
	case InMarked:
		if d.step == stepMark {
			d.marked = true
			m.send(d, fx)
		}
	case InLeaseLost:
		if d.step == stepMark {
			d.held = false
			m.conclude(d, fx, policy.Verdict{Class: policy.Transient}, ReasonLeaseLost, "", false, now)
		}
	case InPublished:
		if d.step == stepPublish || d.step == stepSeed {
			d.gen, d.ownPair = in.Generation, false
			d.unpublished, d.relogin, d.pubTries, d.pubDue = false, false, 0, 0
			d.held, d.marked = false, false // publishing released both
			m.published(d, fx, now)
		}
	case InGenMoved:
		if d.step == stepPublish || d.step == stepSeed {
			m.storeOp(d, fx, StoreRead, stepMoved)
		}
	case InStoreDown:
		m.storeDown(d, fx, in, now)
	}
}

// published goes on after a publish: an attempt that began with one (or
// seeded the store) takes the lease; otherwise nothing is under way.
func (m *Machine) published(d *Data, fx *Effects, now time.Time) {
	if d.state == Refreshing {
		m.storeOp(d, fx, StoreAcquire, stepAcquire)
		return
	}
	d.step = stepNone
	if d.state == Valid {
		m.advance(d, fx, now, false) // no publish retry to wake for
	}
}

// read takes in the family read at step d.step.
func (m *Machine) read(d *Data, fx *Effects, in *Input, now time.Time) {
	if d.step != stepSetRead && d.removedFor(in) {
		m.loggedOut(d, fx, in.Generation, now)
		return
	}
	switch d.step {
	case stepVerify:
		m.verified(d, fx, in, now)
		return
	case stepSetRead:
		d.gen = in.Generation
		d.relogin = false
		m.storeOp(d, fx, StorePublish, stepPublish)
		return
	case stepMoved:
		switch {
		case in.Own:
			// What won is this session's own pair (its earlier publish).
			d.gen, d.unpublished, d.pubTries, d.pubDue = in.Generation, false, 0, 0
			d.held, d.marked = false, false
			m.published(d, fx, now)
		case in.Generation > d.gen && !in.Expiry.IsZero():
			m.adopt(d, fx, in, now)
		default:
			// The store lost the state it refused the publish for: publish
			// from what it holds.
			d.gen = in.Generation
			m.storeOp(d, fx, StorePublish, stepPublish)
		}
		return
	case stepRead, stepAcquire, stepReread: // at stepAcquire: the generation moved
	default:
		return
	}
	holding := d.step == stepReread
	switch {
	case in.Own:
		d.gen = in.Generation // the same pair, renumbered by a store that lost its state
		d.ownPair = false
	case in.Generation > d.gen && !in.Expiry.IsZero() && !d.ownPair:
		m.adopt(d, fx, in, now)
		return
	case in.Generation < d.gen || in.Generation != d.gen && d.ownPair || in.Generation == d.gen && !in.Expiry.IsZero():
		// The store lost the family's state (a Redis restarted without
		// persistence comes back empty; one restored from a snapshot comes
		// back old; one that counts again may hold another pair under the
		// session's generation), or the session was given its pair and the
		// store may hold an older one (ownPair): the store's pair is
		// adopted only if it expires later than the session's (a process
		// refreshed since); otherwise, holding the lease, the session seeds
		// it with its own pair, so that no process is handed a refresh
		// token that was already rotated.
		if !in.Expiry.IsZero() && in.Expiry.After(d.expiry) {
			m.adopt(d, fx, in, now)
			return
		}
		if holding && !d.expiry.IsZero() {
			m.storeOp(d, fx, StoreSeed, stepSeed)
			fx.Generation = in.Generation
			return
		}
	}
	if !holding && !in.Until.IsZero() {
		// Another process holds the lease: wait for it as an acquire
		// refused would have said, one round trip sooner.
		m.busy(d, fx, in.Until, now)
		return
	}
	if !holding {
		m.storeOp(d, fx, StoreAcquire, stepAcquire)
		fx.Generation = in.Generation
		return
	}
	if in.Marked && in.MarkGeneration == d.gen && d.fb == fbNone {
		switch m.Orphaned(in.MarkedAt, now) {
		case OrphanReplay:
			d.fb = fbReplay
		case OrphanFallback:
			d.fb = fbOrphan
		case OrphanRevoke:
			m.conclude(d, fx, policy.Verdict{Class: policy.Permanent}, ReasonCrashedHolder, "", false, now)
			return
		}
	}
	m.storeOp(d, fx, StoreMark, stepMark)
}

// adopt installs the family's newer pair, giving up the lease.
func (m *Machine) adopt(d *Data, fx *Effects, in *Input, now time.Time) {
	m.release(d, fx, true)
	m.install(d, fx, Adopt, ReasonAdopted, in, now)
}

// watched takes in a report of the family's watch.
func (m *Machine) watched(d *Data, fx *Effects, in *Input, now time.Time) {
	if d.removedFor(in) {
		m.loggedOut(d, fx, in.Generation, now)
		return
	}
	if !m.Watching(d) {
		// A watch for a logout (WatchingLogout) sees every publish too. A
		// valid session adopts a newer pair at once rather than at its own
		// refresh point, which the spread puts up to MaxRefreshSpread after
		// the first process's: meanwhile its refresh token is retired, and
		// a store that lost its state would be seeded with it again.
		if d.state == Valid && d.step == stepNone && !d.unpublished && newerPair(d, in) {
			m.adopt(d, fx, in, now)
		}
		return
	}
	switch {
	case in.Own:
		if in.Generation > d.gen && !d.unpublished {
			d.gen = in.Generation
		}
	case in.Generation > d.gen && !in.Expiry.IsZero(), newerPair(d, in):
		m.adopt(d, fx, in, now)
		return
	}
	if d.state == Waiting && in.Until.IsZero() {
		// Released without a pair (the holder gave up, or crashed and its
		// lease lapsed): take over now.
		d.nextAt = now
		m.advance(d, fx, now, false)
	}
}

// newerPair reports that the family's pair in is newer than the session's:
// another pair whose generation is newer (unless the session's pair is the
// application's, of a generation unknown, StartWithOwnPair), or that
// expires later — a store that lost its state and counts again may hold a
// newer pair under the same or a lower generation.
func newerPair(d *Data, in *Input) bool {
	if in.Own || in.Expiry.IsZero() {
		return false
	}
	return in.Generation > d.gen && !d.ownPair || in.Expiry.After(d.expiry)
}

// busy makes a session whose attempt met another process's lease wait for
// it: serve a still-valid token meanwhile, adopt the holder's pair, take
// over at until.
func (m *Machine) busy(d *Data, fx *Effects, until, now time.Time) {
	d.step, d.fb = stepNone, fbNone
	d.nextAt = until
	fire(d, fx, Wait, ReasonLeaseBusy, "", now)
}

// storeDown takes in a store that could not be reached at step d.step.
func (m *Machine) storeDown(d *Data, fx *Effects, in *Input, now time.Time) {
	if d.state != Refreshing {
		// A publish after the attempt (or a re-login's): the pair stays
		// installed, the lease and the mark stay, and the publish is asked
		// for again.
		d.step = stepNone
		d.pubDue = now.Add(min(time.Second<<min(d.pubTries, 4), PublishRetryMax)).Sub(d.issued)
		d.pubTries = min(d.pubTries+1, 8)
		if d.state == Valid {
			m.advance(d, fx, now, false)
		}
		return
	}
	switch d.step {
	case stepSend:
		return
	case stepVerify:
		m.unverified(d, fx, in, now)
		return
	}
	if m.Solo(d, now) {
		m.send(d, fx)
		return
	}
	m.conclude(d, fx, policy.Verdict{Class: policy.Transient}, ReasonStoreDown, in.Detail, false, now)
}

// afterFailure keeps or gives up the lease of a session whose attempt
// failed: kept through a retry (the other processes keep waiting, and the
// policy paces the family), its mark cleared unless the refresh token may
// have been spent, so that only a holder that vanished with a possibly
// spent token leaves a mark behind; given up otherwise, mark and all — a
// live holder that gives up presents the same token at its next cycle, as
// a single process does, so its mark would only make the next holder
// revoke itself over a 503.
func (m *Machine) afterFailure(d *Data, fx *Effects, now time.Time) {
	if !d.held {
		return
	}
	if d.state != Backoff {
		m.release(d, fx, true)
		return
	}
	fx.Lease, fx.For = LeaseKeep, d.nextAt.Sub(now)+m.lease
	fx.ClearMark = d.marked && !d.maybeConsumed
	d.marked = d.marked && !fx.ClearMark
}

// release gives up the session's lease, clearing its mark when clear says
// the refresh token certainly was not spent.
func (m *Machine) release(d *Data, fx *Effects, clear bool) {
	if !d.held && !d.marked {
		return
	}
	fx.Lease, fx.ClearMark = LeaseRelease, clear && d.marked
	d.held = false
	d.marked = d.marked && !clear
}

// Watching reports whether a session must watch its family for a newer
// pair (Effects.Watch): while it waits for another process's lease, while
// it has nothing to refresh with (NoToken: the family's first pair, or the
// next, is what it waits for), while it needs a login (NeedsLogin,
// LoggingIn: another process's login ends the wait), and while the
// authorization server (or the crashed-holder decision, or a logout by
// another process) revoked it — a re-login or a fallback by another process
// of the family revives it. A session that the application revoked
// (Revoke, Logout) stays revoked.
func (m *Machine) Watching(d *Data) bool {
	if !m.coordinated {
		return false
	}
	switch d.state {
	case Waiting:
		return true
	case Revoked:
		return d.reason != ReasonRevokeCalled && d.reason != ReasonLogout
	case Expired:
		return d.awaitPair
	case NeedsLogin, LoggingIn:
		return true
	}
	return false
}

// WatchingLease reports whether a session's watch (Watching) must report
// the lease's release too (Effects.WatchLease): while it waits for another
// process's lease, which it takes over once released. Otherwise only a
// newer pair matters to it.
func (m *Machine) WatchingLease(d *Data) bool { return m.Watching(d) && d.state == Waiting }

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
