package sim

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// generate draws a random scenario from seed: token lifetime and margin,
// rotation, skew, latency and timeout, a policy, a workload, a small fleet
// and a fault schedule. FuzzExpect then writes the invariants it must obey
// as expectations. The same seed gives the same scenario.
func generate(seed uint64) *Scenario {
	g := gen{rand.New(rand.NewPCG(seed, 0xf022))}
	sc := defaults()
	sc.Name = "fuzz-" + strconv.FormatUint(seed, 16)
	sc.Seed = seed
	sc.Duration = g.dur(time.Hour, 6*time.Hour, time.Minute)
	sc.Token.TTL = g.pick(5*time.Minute, 15*time.Minute, 30*time.Minute, time.Hour)
	if g.chance(0.5) {
		sc.Session.RefreshAhead = g.dur(0, sc.Token.TTL*6/5, time.Second)
	}
	sc.Token.Rotate = g.chance(0.4)
	if sc.Token.Rotate && g.chance(0.5) {
		sc.Token.ReuseGrace = g.dur(10*time.Second, 5*time.Minute, time.Second)
	}
	if g.chance(0.3) {
		sc.Token.OmitExpiresIn = true
		sc.ClockSkew = g.dur(-2*time.Minute, 2*time.Minute, time.Second)
	}
	sc.Session.RequestTimeout = g.dur(time.Second, 15*time.Second, 100*time.Millisecond)
	sc.Server.Latency = g.dur(0, min(sc.Session.RequestTimeout/2, 500*time.Millisecond), time.Millisecond)
	if g.chance(0.5) {
		sc.Session.WaitForRefresh = g.dur(time.Second, 30*time.Second, time.Second)
	}
	sc.Session.Policy = g.policy()
	sc.Workload = []Work{{Kind: WorkRequests, Every: g.dur(30*time.Second, 10*time.Minute, time.Second), To: sc.Duration}}
	if g.chance(0.2) {
		sc.Workload = append(sc.Workload, Work{Kind: WorkBurst, At: g.dur(0, sc.Duration-time.Minute, time.Second), Count: 1 + g.r.IntN(200)})
	}
	sc.Fleet.Sessions = 1 + g.r.IntN(4)
	if sc.Fleet.Sessions > 1 && g.chance(0.5) {
		sc.Fleet.StartSpread = g.dur(time.Second, 30*time.Minute, time.Second)
	}
	if g.chance(0.1) {
		// A tiny capacity makes sessions meet 503s from the server itself;
		// recovery is then unbounded, but the other invariants still hold.
		sc.Fleet.Sessions += 8
		sc.Fleet.ServerCapacity = 1 + g.r.IntN(3)
	}
	if g.chance(0.1) {
		sc.Token.RefreshTTL = g.dur(30*time.Minute, 6*time.Hour, time.Minute)
	}
	if g.chance(0.25) {
		g.families(&sc)
	}
	sc.Session.Fallback = g.chance(0.2)
	sc.Server.Faults = g.faults(&sc)
	if g.chance(0.2) {
		// Drawn last, so that the rest of each scenario is what it was
		// before the throttle existed.
		sc.Session.Throttle = policy.ThrottleSpec{Kind: policy.ThrottleAdaptive, K: []float64{1.5, 2, 3}[g.r.IntN(3)],
			Window: g.pick(30*time.Second, 2*time.Minute, 10*time.Minute), Probe: g.pick(5*time.Second, 30*time.Second, 2*time.Minute)}
	}
	fuzzExpect(&sc)
	return &sc
}

// families splits a fleet of at least two processes into token families,
// most of them sharing a store with a lease that outlasts one refresh, on
// a server that may detect reuse.
func (g gen) families(sc *Scenario) {
	sc.Fleet.Sessions = max(sc.Fleet.Sessions, 2+g.r.IntN(7))
	sc.Fleet.Families = 1 + g.r.IntN(sc.Fleet.Sessions/2)
	sc.Token.ReuseDetection = sc.Token.Rotate && g.chance(0.6)
	if g.chance(0.65) {
		sc.Share.Kind = ShareStore
		sc.Share.Latency = g.dur(0, 5*time.Millisecond, 100*time.Microsecond)
		sc.Session.Lease = sc.Session.RequestTimeout + 2*sc.Share.Latency + g.dur(time.Millisecond, time.Minute, time.Millisecond)
	}
}

type gen struct{ r *rand.Rand }

func (g gen) chance(p float64) bool { return g.r.Float64() < p }

// dur draws a duration in [lo, hi] rounded to unit.
func (g gen) dur(lo, hi, unit time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.r.Int64N(int64(hi-lo)/int64(unit)+1))*unit
}

func (g gen) pick(ds ...time.Duration) time.Duration { return ds[g.r.IntN(len(ds))] }

func (g gen) policy() policy.Spec {
	p := policy.Spec{
		Kind:       policy.Kinds[g.r.IntN(len(policy.Kinds))],
		Initial:    g.dur(time.Second, 5*time.Second, 100*time.Millisecond),
		Multiplier: float64(2+g.r.IntN(5)) / 2,
		Jitter:     policy.Jitter(g.r.IntN(4)),
	}
	p.Max = g.dur(max(p.Initial, 10*time.Second), 2*time.Minute, time.Second)
	if g.chance(0.3) {
		p.MaxAttempts = 1 + g.r.IntN(8)
	}
	if g.chance(0.2) {
		p.MaxElapsed = g.dur(30*time.Second, 10*time.Minute, time.Second)
	}
	return p.WithKind(p.Kind) // only the settings the kind uses
}

// transientStatuses are statuses a proxy or a struggling server sends.
var transientStatuses = []int{500, 502, 503, 504, 408, 404, 429}

// faults draws a schedule of fault windows separated by more than the
// recovery bound, so that each window's recovery can be checked on its own,
// plus now and then an access-token rejection or a permanent refusal.
func (g gen) faults(sc *Scenario) []Fault {
	var fs []Fault
	t := g.dur(0, sc.Duration/3, time.Second)
	for n := g.r.IntN(5); n > 0; n-- {
		length := g.dur(time.Second, 30*time.Minute, time.Second)
		if t+length+2*recoveryBound(sc, 5*time.Minute) >= sc.Duration {
			break
		}
		f := Fault{From: t, To: t + length}
		switch k := g.r.IntN(11); k {
		case 9:
			// Holders crash on their refreshes for a few minutes at most:
			// each crash costs the family a lease.
			f.Kind, f.Restart = FaultCrashHolder, g.dur(time.Second, 2*time.Minute, time.Second)
			f.To = t + min(length, 5*time.Minute)
		case 10:
			f.Kind = FaultStoreDown
			if sc.Share.Kind != ShareStore {
				f.Kind = FaultHang
			}
		case 8:
			f.Kind = FaultRejectAccess // the API refuses every token in the window
		case 0, 1:
			f.Kind, f.Status = FaultStatus, transientStatuses[g.r.IntN(len(transientStatuses))]
			if f.Status == 429 || f.Status == 503 && g.chance(0.5) {
				f.RetryAfter = g.dur(time.Second, 3*time.Minute, time.Second)
			}
		default:
			f.Kind = []FaultKind{FaultHang, FaultRefused, FaultHTML200, FaultMalformed, FaultLostResponse, FaultStatus}[k-2]
			if f.Kind == FaultStatus {
				f.Status = 503
			}
		}
		fs = append(fs, f)
		t = f.To + 2*recoveryBound(sc, 5*time.Minute) + g.dur(0, time.Hour, time.Second)
	}
	if g.chance(0.2) {
		fs = append(fs, Fault{Kind: FaultRejectAccess, Instant: true, From: g.dur(0, sc.Duration-time.Second, time.Second), To: sc.Duration})
	}
	if g.chance(0.1) {
		at := g.dur(0, sc.Duration-time.Second, time.Second)
		if g.chance(0.5) {
			fs = append(fs, Fault{Kind: FaultRevoke, Instant: true, From: at, To: sc.Duration})
		} else {
			fs = append(fs, Fault{Kind: FaultStatus, Status: 400 + g.r.IntN(2), Error: "invalid_grant", From: at, To: min(at+time.Minute, sc.Duration)})
		}
	}
	return fs
}

// recoveryBound is invariant 5 of docs/DESIGN.md made concrete: after a fault
// window ends, a session that has no usable token (or a refresh cycle
// open) gets one from a successful refresh within the
// answer to the request in flight (one timeout), the policy's longest delay
// (or the server's Retry-After, or the wait for the next demand after the
// policy gave up), and one round trip. retryAfter is the longest
// Retry-After of the schedule.
func recoveryBound(sc *Scenario, retryAfter time.Duration) time.Duration {
	p := sc.Session.Policy
	delay := p.Max
	if p.Kind == "constant" {
		delay = p.Initial
		if p.Jitter == policy.DecorrelatedJitter {
			delay = 3 * p.Initial
		}
	}
	delay = max(delay, min(retryAfter, states.DefaultMaxRetryAfter))
	for _, w := range sc.Workload {
		if w.Kind == WorkRequests {
			delay = max(delay, w.Every)
		}
	}
	// A process of a family that shares a store may wait one lease for a
	// holder, and make a few round trips of its own; one that crashed comes
	// back after its restart and may wait for the lease it left behind.
	if sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore {
		delay += sc.Session.Lease + 8*sc.Share.Latency
	}
	var restart time.Duration
	for _, f := range sc.Server.Faults {
		if f.Kind == FaultCrashHolder {
			restart = max(restart, f.Restart+sc.Session.Lease)
		}
	}
	// A shared throttle lets an attempt through at least every probe
	// interval and forgets the outage at the first accept, which comes
	// within a probe interval and a delay (the next attempt of any
	// session) and its answer; a session it kept back just before that
	// waits one more delay of its own. In a large fleet attempts are dense
	// and that is about a probe interval; a few sessions that attempt
	// seldom (policy none, a demand every few minutes) can meet it.
	var throttle time.Duration
	if sc.Session.Throttle.Kind == policy.ThrottleAdaptive {
		throttle = sc.Session.Throttle.Probe + delay + sc.Session.RequestTimeout
	}
	return sc.Session.RequestTimeout + delay + restart + throttle + sc.Server.Latency + time.Second
}

// fuzzExpect writes the invariants sc must obey as its expectations: never
// revoked unless the schedule contains an explicit refusal (or a lost
// response on a rotating server, after which the server rightly refuses
// the retired token; or processes of one family that share nothing on a
// rotating server; or, with a shared store, a refresh token a crashed or
// failed holder may have spent, which Machine.Orphaned may revoke rather
// than present), and bounded recovery when it can be bounded. With the
// fallback grant only a refusal of that grant too revokes.
func fuzzExpect(sc *Scenario) {
	sc.Expect = Expect{}
	refusal, spent, ra := false, sc.Token.RefreshTTL > 0, time.Duration(0)
	store := sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore
	p := sc.Session.Policy
	limited := p.Kind == "none" || p.MaxAttempts > 0 || p.MaxElapsed > 0
	for _, f := range sc.Server.Faults {
		switch {
		case f.Kind == FaultStatus && f.Status >= 400 && f.Status < 500 && f.Status != 404 && f.Status != 408 && f.Status != 429:
			refusal = true
		case f.Kind == FaultRevoke, f.Kind == FaultLostResponse && sc.Token.Rotate,
			f.Kind == FaultCrashHolder, f.Kind == FaultStoreDown:
			spent = true
		case store && limited && f.endpoint():
			// A holder that gives up releases the lease and leaves its mark
			// on a token the failed request may have spent.
			spent = true
		}
		ra = max(ra, f.RetryAfter)
	}
	if store && limited && sc.Fleet.ServerCapacity > 0 {
		spent = true // the same after the 503s of a server over its capacity
	}
	if sc.Fleet.Families > 0 && !store && sc.Token.Rotate && sc.Fleet.Sessions > sc.Fleet.Families {
		spent = true // a copy retired by another process of the family
	}
	if refusal || spent && !sc.Session.Fallback {
		return
	}
	sc.Expect.NeverStates = []states.State{states.Revoked}
	periodic := false
	for _, w := range sc.Workload {
		periodic = periodic || w.Kind == WorkRequests && w.From == 0 && w.To == sc.Duration
	}
	if periodic && sc.Fleet.ServerCapacity == 0 {
		b := recoveryBound(sc, ra)
		if limited {
			// A policy that gives up postpones a refresh-ahead cycle to the
			// token's expiry, up to a lifetime after the window: the cycle
			// stays open, and the session recovers at its next success.
			b += sc.Token.TTL + max(sc.ClockSkew, -sc.ClockSkew)
		}
		// A session a window touched recovers only by a success after it:
		// a window that ends too close to the run's end, or another window
		// within the bound, may leave it no chance.
		crowded := false
		for _, f := range sc.Server.Faults {
			if f.Instant {
				continue
			}
			crowded = crowded || f.To+b > sc.Duration
			for _, g := range sc.Server.Faults {
				crowded = crowded || g.From < f.To+b && g.To > f.To
			}
		}
		if !crowded {
			sc.Expect.MaxRecovery = &b
		}
	}
}
