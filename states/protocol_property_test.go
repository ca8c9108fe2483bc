package states

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// TestRandomProtocolKeepsInvariants drives coordinated machines with
// random answers to the store operations and requests they ask for, random
// watch reports and the other inputs, and checks on every step, besides
// checkStep's invariants: a request is sent only after the refresh was
// marked in flight (or alone, the store down and Solo allowed); a refresh
// token that a vanished holder may have spent outside the reuse grace is
// never presented; and a session only ever asks for one thing at a time.
func TestRandomProtocolKeepsInvariants(t *testing.T) {
	for seed := range uint64(1000) {
		runRandomProtocol(t, seed, 400)
	}
}

func runRandomProtocol(t *testing.T, seed uint64, n int) {
	r := rand.New(rand.NewPCG(seed, 7))
	spec := propertyPolicies[r.IntN(len(propertyPolicies))]
	p, _ := spec.Build()
	grace := []time.Duration{0, 0, 30 * time.Second, 2 * time.Minute}[r.IntN(4)]
	m := NewMachine(Config{Policy: p, RefreshAhead: 5 * time.Minute, Coordinated: true, ReuseGrace: grace,
		Fallback: r.IntN(2) == 0, SoloWhenStoreDown: r.IntN(4) == 0, FallbackSameClient: r.IntN(2) == 0,
		Login: LoginMode(r.IntN(3))})
	g := &gen{r: r, now: epoch}
	d := NewData(seed, epoch, epoch.Add(time.Hour), StartGeneration(uint64(r.IntN(3))))
	var fx Effects
	marked, solo := false, false // what this attempt's driver saw before a send
	for range n {
		in, now := g.protocolInput(d, &fx)
		before := d
		next, f := m.Step(d, in, now)
		checkStep(t, before, in, next, &f)
		if f.StartRefresh {
			marked, solo = false, false
		}
		switch {
		case in.Kind == InMarked && in.Flight == before.flight && before.step == stepMark:
			marked = true
		case in.Kind == InStoreDown && f.Send != GrantNone:
			solo = true
		}
		if f.Send != GrantNone && f.Send != GrantFallback && !marked && !solo {
			t.Fatalf("seed %d: %v sent without a mark (input %+v)", seed, f.Send, in)
		}
		if in.Kind == InFamily && in.Flight == before.flight && before.step == stepReread && in.Marked &&
			in.MarkGeneration == before.gen && before.fb == fbNone && now.Sub(in.MarkedAt) >= grace &&
			in.Generation == before.gen && !before.ownPair && next.state == Refreshing && next.fb != fbOrphan {
			t.Fatalf("seed %d: a vanished holder's mark outside the grace met with %d (state %v)", seed, next.fb, next.state)
		}
		if f.Store != StoreNone && f.Send != GrantNone {
			t.Fatalf("seed %d: a store operation and a request asked for at once", seed)
		}
		d, fx = next, f
	}
}

// protocolInput answers what fx asked for, or feeds another input.
func (g *gen) protocolInput(d Data, fx *Effects) (Input, time.Time) {
	g.now = g.now.Add(time.Duration(g.r.Int64N(int64(50 * time.Millisecond))))
	in := Input{Flight: fx.Flight}
	if g.r.IntN(15) == 0 {
		in.Flight-- // stale
	}
	if g.r.IntN(8) == 0 {
		return g.input(d, fx.WakeAt) // anything else
	}
	family := func() {
		in.Kind, in.Generation = InFamily, d.gen+uint64(g.r.IntN(3))-1
		if g.r.IntN(4) == 0 {
			in.Generation = d.gen
			in.Own = true
		}
		if in.Generation > 0 || in.Own {
			in.Issued, in.Expiry = g.now, g.now.Add(time.Hour)
		}
		if !in.Own && in.Generation > 0 && g.r.IntN(8) == 0 {
			in.Issued, in.Expiry, in.Removed = time.Time{}, time.Time{}, true // a logout
		}
		if g.r.IntN(3) == 0 {
			in.Until = g.now.Add(20 * time.Second)
		}
		if g.r.IntN(3) == 0 {
			in.Marked, in.MarkGeneration = true, d.gen
			in.MarkedAt = g.now.Add(-time.Duration(g.r.Int64N(int64(5 * time.Minute))))
		}
	}
	switch {
	case g.r.IntN(10) == 0 && fx.Store != StoreNone:
		in.Kind, in.Detail = InStoreDown, "connection refused"
	case fx.Store == StoreRead:
		family()
	case fx.Store == StoreAcquire:
		in.Kind = InLeaseHeld
		if g.r.IntN(3) == 0 {
			in.Kind, in.Until = InBusy, g.now.Add(20*time.Second)
		}
	case fx.Store == StoreMark:
		in.Kind = []InputKind{InMarked, InMarked, InMarked, InLeaseLost}[g.r.IntN(4)]
	case fx.Store == StorePublish || fx.Store == StoreSeed:
		in.Kind, in.Generation = InPublished, fx.Generation+1
		if g.r.IntN(4) == 0 {
			in.Kind = InGenMoved
		}
	case fx.Login:
		in.Kind = InLoggedIn
		in.Issued, in.Expiry, in.NoRefresh = g.now, g.now.Add(time.Hour), g.r.IntN(4) == 0
		if g.r.IntN(3) == 0 {
			in.Kind, in.Detail = InLoginFailed, "access_denied"
		}
	case fx.Send != GrantNone:
		switch k := g.r.IntN(12); {
		case k == 0:
			in.Kind = InThrottled
		case k == 1:
			in.Kind = InNoRefresh
		default:
			in.Kind, in.Verdict = InResult, g.verdict()
			if in.Verdict.Class == policy.OK {
				in.Issued, in.Expiry, in.Rotated = g.now, g.now.Add(time.Hour), g.r.IntN(2) == 0
			}
		}
	case g.r.IntN(3) == 0:
		in.Flight = 0 // a report of the watch
		family()
	default:
		g.now = maxTime(g.now, fx.WakeAt)
		in.Kind = []InputKind{InWake, InDemand, InFlush}[g.r.IntN(3)]
	}
	return in, g.now
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
