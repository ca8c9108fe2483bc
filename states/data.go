package states

import (
	"math/rand/v2"
	"time"
)

// Data is one session as the machine sees it. It is a value: Step returns
// the next Data and never retains it. Its fields are the machine's own:
// drivers read them through the methods below and change them only by
// feeding inputs, so that every decision stays in the machine.
type Data struct {
	state State
	// issued and expiry bound the current access token's life on the
	// client's clock; a zero expiry means the session holds no token.
	issued, expiry time.Time
	// The booleans below are sub-states of the table's states, kept apart
	// so that the table stays the picture a reader needs:
	//
	// rejected: a resource server refused the current token. In Valid it
	// leads to Expired at once (Reject); in Refreshing, Backoff and Waiting
	// it withholds the token that is otherwise served there.
	rejected bool
	// postponed, a sub-state of Valid: a refresh-ahead cycle gave up while
	// the token was valid; the next cycle starts at expiry, not at the
	// refresh point.
	postponed bool
	// maybeConsumed: a request presenting the refresh token held may have
	// been performed by the server although its answer was lost, so a
	// refusal that follows, in this cycle or a later one, is explained by
	// it. It lasts until a new refresh token arrives. doubtCause is the
	// cause of the latest answer lost so, the token's last presentation;
	// doubtAt is when the request of the first was sent, the earliest
	// instant the server can have rotated the token (the reuse grace,
	// Config.ReuseGrace, runs from then at the soonest). Anchoring the
	// grace's retry (Machine.graceRetry) there, not at each lost answer,
	// keeps it to one window: a server that keeps losing answers cannot
	// keep a cycle from ending.
	maybeConsumed bool
	doubtCause    string
	doubtAt       time.Time
	// sentAt is when the last request was sent (Effects.Send).
	sentAt time.Time
	// rejectCycle, a sub-state of a cycle: it was opened by a resource
	// server's rejection of the token, so its token starts on probation.
	rejectCycle bool
	// probation, a sub-state of Valid: the current token came from a cycle
	// that is not closed yet (see Probation).
	probation bool
	// suspectN counts the Suspect refusals (policy.Suspect) that the last
	// attempts met in a row with the same cause (detail); at
	// policy.SuspectRepeats the refusal is final and revokes. Any other
	// outcome, a new token or a re-login resets it; a new cycle does not.
	suspectN uint8
	// reason and detail say why the last attempt failed or the session
	// was revoked; ReasonNone after a success.
	reason Reason
	detail string
	// attempt is the number of the current or last attempt (see Attempt).
	attempt int
	// cycleStart is when the cycle's first attempt started; prevDelay the
	// last delay the policy chose in it.
	cycleStart time.Time
	prevDelay  time.Duration
	// nextAt is the instant of the next wake-up (refresh point, expiry or
	// retry); zero when none is due.
	nextAt time.Time
	// flight identifies the attempt under way (or the last one), and the
	// store operations and requests it asks for.
	flight uint64
	// The family's protocol (protocol.go), sub-states of Refreshing (step,
	// fb) and of the token held (the rest):
	//
	// gen is the family's generation of the pair held (the one its refresh
	// token belongs to, until a new pair is published); step is where the
	// attempt (or a publish) is; fb is why it presents which grant;
	// pubTries counts the publishes that met the store down, pubDue is
	// when the next is due (from issued).
	gen      uint64
	pubDue   time.Duration
	step, fb uint8
	pubTries uint8
	// held and marked: the session holds the family's refresh lease, and
	// its in-flight mark is on the store. rtDead: the refresh token was
	// refused or spent (or there is none): attempts use the fallback grant
	// until a new one arrives. unpublished: the pair held is not in the
	// store yet (relogin: it is the application's, published from whatever
	// generation the store holds).
	held, marked, rtDead, unpublished, relogin bool
	// ownPair: the pair is the application's, its generation unknown
	// (StartWithOwnPair), until the family was read. awaitPair, a
	// sub-state of Expired: there is nothing to refresh with (NoToken).
	// rtNone: rtDead because there never was a refresh token (not because
	// one was refused).
	ownPair, awaitPair, rtNone bool
	// spread is the session's spread key, drawn from its seed: what moves
	// its refresh point apart from its family's (spread.go).
	spread uint32
	// rand is the session's seeded random source, for jitter.
	rand rand.PCG
}

// seedMix makes the second word of a session's random source from its seed.
const seedMix = 0x9e3779b97f4a7c15

// NewRand returns the random source seeded with seed, as a session's
// (NewData) and every other source of this module derived from one seed.
func NewRand(seed uint64) *rand.PCG { return rand.NewPCG(seed, seed^seedMix) }

// A DataOption describes the pair a session starts with, beyond its
// token's life (NewData, Data.Restarted).
type DataOption struct {
	gen            uint64
	noRefresh, own bool
}

// StartGeneration says that the pair is the family's generation gen
// (Config.Coordinated), as read from its store.
func StartGeneration(gen uint64) DataOption { return DataOption{gen: gen} }

// StartWithOwnPair says that the application gave the session its pair
// (Config.Coordinated): the family's store may not know it, and may hold
// an older one under any generation, so the first read of the family
// weighs the store's pair by its expiry instead of adopting any
// generation, and seeds the store with the session's pair when the store's
// is older.
func StartWithOwnPair() DataOption { return DataOption{own: true} }

// StartWithoutRefresh says that the pair carries no refresh token: attempts
// use the fallback grant (Config.Fallback) until one arrives.
func StartWithoutRefresh() DataOption { return DataOption{noRefresh: true} }

// NewData returns the data of a session seeded with seed. Without a token
// (zero expiry) the session starts Expired and refreshes on first demand.
func NewData(seed uint64, issued, expiry time.Time, opts ...DataOption) Data {
	d := Data{rand: *NewRand(seed), spread: spreadKey(seed)}
	return d.Restarted(issued, expiry, opts...)
}

// Restarted returns the data of a session that starts anew with the token
// issued at issued and expiring at expiry (none when expiry is zero),
// keeping d's random source (and spread key) where NewData would seed one.
func (d Data) Restarted(issued, expiry time.Time, opts ...DataOption) Data {
	n := Data{state: InitialState, issued: issued, expiry: expiry, rand: d.rand, spread: d.spread}
	if expiry.IsZero() {
		n.state = Expired
	}
	for _, o := range opts {
		n.gen = max(n.gen, o.gen)
		n.rtDead = n.rtDead || o.noRefresh
		n.rtNone = n.rtNone || o.noRefresh
		n.ownPair = n.ownPair || o.own
	}
	return n
}

// State returns the session's state.
func (d *Data) State() State { return d.state }

// Issued returns when the current access token was issued, on the client's
// clock.
func (d *Data) Issued() time.Time { return d.issued }

// Expiry returns when the current access token expires; zero when the
// session holds none.
func (d *Data) Expiry() time.Time { return d.expiry }

// Rejected reports that a resource server refused the current token.
func (d *Data) Rejected() bool { return d.rejected }

// Postponed reports that a refresh-ahead cycle gave up while the token was
// valid: the next cycle starts at expiry, not at the refresh point.
func (d *Data) Postponed() bool { return d.postponed }

// Attempt returns the number of the current or last attempt of the cycle
// under way (a token on probation included), or of the cycle that gave up;
// 0 after a success that closed its cycle.
func (d *Data) Attempt() int { return d.attempt }

// CycleStart returns when the cycle's first attempt started.
func (d *Data) CycleStart() time.Time { return d.cycleStart }

// NextAt returns the instant of the next wake-up (refresh point, expiry or
// retry); zero when none is due.
func (d *Data) NextAt() time.Time { return d.nextAt }

// Reason returns why the last attempt failed or the session was revoked;
// ReasonNone after a success.
func (d *Data) Reason() Reason { return d.reason }

// Detail returns the detail of Reason: the server's words, an error.
func (d *Data) Detail() string { return d.detail }

// Cause returns Reason formatted with its detail: why the last attempt
// failed or the session was revoked, empty after a success.
func (d *Data) Cause() string {
	if d.reason == ReasonNone {
		return d.detail
	}
	return d.reason.Format(d.detail)
}

// MaybeConsumed reports that a request presenting the refresh token held
// may have been performed by the server although its answer was lost (no
// answer after the request was sent, or one that is not the server's own):
// a rotating server may have spent the token. It lasts until a new refresh
// token arrives, through later cycles.
func (d *Data) MaybeConsumed() bool { return d.maybeConsumed }

// Probation reports a sub-state of Valid: the current token came from a
// cycle that is not closed yet — the cycle was opened by a rejection, or
// the token lives less than MinLifetime. Attempt and the policy's pacing
// are kept, and a rejection of the token (or, for a short-lived one, its
// death) fails the cycle's attempt, so the retry policy paces the next one
// instead of a new cycle starting at once. A resource server's acceptance
// of the token (InAccept) or the refresh-ahead point ends probation.
func (d *Data) Probation() bool { return d.probation }

// Flight returns the number of the attempt under way (or of the last
// one); an input carrying another flight number is stale.
func (d *Data) Flight() uint64 { return d.flight }

// Generation returns the family's generation of the pair held
// (Config.Coordinated): the one it was published as, or the one its
// refresh token replaces until the new pair is published.
func (d *Data) Generation() uint64 { return d.gen }

// Unpublished reports that the pair held is not in the family's store yet
// (Config.Coordinated): a publish is under way, or met the store down and
// is asked for again.
func (d *Data) Unpublished() bool { return d.unpublished }

// RefreshDead reports that the refresh token held was refused or may have
// been spent (or that there is none): attempts use the fallback grant
// until a new refresh token arrives.
func (d *Data) RefreshDead() bool { return d.rtDead }

// GaveUp reports that the last cycle ended without a token (the policy
// gave up, GiveUp): the session rests in Expired with the failure as its
// reason, and the next demand starts a fresh cycle.
func (d *Data) GaveUp() bool { return d.state == Expired && d.reason != ReasonNone && !d.awaitPair }

// AwaitsPair reports a sub-state of Expired: the session has nothing to
// refresh with — no refresh token, and no fallback grant (NoToken) — and
// waits for a pair from outside: SetToken, or (Config.Coordinated) the
// first pair another process of its family publishes, which it watches
// for. A demand starts no cycle meanwhile. Reason says which: no token yet
// (ReasonNoTokenYet), or an access token without a refresh token
// (ReasonNoRefreshToken).
func (d *Data) AwaitsPair() bool { return d.state == Expired && d.awaitPair }

// Usable reports whether the session holds a token that may be sent at now.
func (d *Data) Usable(now time.Time) bool {
	return d.state != Revoked && d.state != NeedsLogin && d.state != LoggingIn && !d.expiry.IsZero() &&
		now.Before(d.expiry) && !d.rejected
}

// ServeUntil is the instant until which a caller may keep using the
// current token without asking the session again: the refresh point while
// the session is Valid (it plans to replace the token then, and servers
// that revoke the previous access token at a refresh, such as Ory Hydra
// and fosite, refuse it from that moment), the next attempt while a failed
// cycle waits in Backoff, and now while a refresh is in flight or another
// process's is awaited; never later than Expiry, which it is when no
// replacement is planned. It is zero when no token is usable at now.
func (d *Data) ServeUntil(now time.Time) time.Time {
	if !d.Usable(now) {
		return time.Time{}
	}
	at := d.expiry
	switch d.state {
	case Refreshing, Waiting:
		at = now
	case Valid, Backoff:
		if !d.nextAt.IsZero() && d.nextAt.Before(at) {
			at = d.nextAt
		}
	}
	return at
}

// consumedNote explains a refusal of the refresh token that follows a
// possibly lost answer (MaybeConsumed), naming the latest, or returns ""
// when there was none.
func (d *Data) consumedNote() string {
	if !d.maybeConsumed {
		return ""
	}
	return "refresh token probably consumed by a refresh whose answer was lost (" + d.doubtCause + ")"
}

// shortLived reports whether the current token's lifetime is below
// MinLifetime.
func (d *Data) shortLived() bool { return d.expiry.Sub(d.issued) < MinLifetime }
