package sim

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// tieScenario is a fuzzed scenario (generate) made to put many events at
// the instants of periodic calls, where counting calls in closed form must
// keep the order an event per call gives: short periods that divide the
// token's lifetime, several periodic entries (of one period, of several,
// some starting a period or more after the session, whose calls stay
// events), sessions that start together, latencies, waits, retry delays,
// store round trips and restarts of a whole period or none, bursts at
// round instants, and now and then max_failed_requests.
func tieScenario(seed uint64) *Scenario {
	sc := generate(seed)
	sc.Name = "tie-" + strconv.FormatUint(seed, 16)
	g := gen{rand.New(rand.NewPCG(seed, 0x71e5))}
	sc.Duration = min(sc.Duration, g.pick(30*time.Minute, time.Hour, 90*time.Minute))
	every := g.pick(time.Second, 2*time.Second, 5*time.Second, 10*time.Second, 30*time.Second, time.Minute)
	sc.Workload = nil
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		e := every
		if g.chance(0.4) {
			e = g.pick(time.Second, 3*time.Second, 10*time.Second, time.Minute, 5*time.Minute)
		}
		w := Work{Kind: WorkRequests, Every: e, To: sc.Duration}
		switch g.r.IntN(6) {
		case 1:
			w.From = time.Second
		case 2:
			w.From = e / 2
		case 3:
			w.From = e // a period or more after: its calls stay events
		case 4:
			w.From = 2*e + time.Second
		}
		if g.chance(0.2) {
			w.To = sc.Duration / 2
		}
		if w.From < w.To {
			sc.Workload = append(sc.Workload, w)
		}
	}
	if g.chance(0.4) {
		sc.Workload = append(sc.Workload, Work{Kind: WorkBurst, At: sc.Duration / time.Duration(2+g.r.IntN(4)) / every * every, Count: 1 + g.r.IntN(50)})
	}
	if g.chance(0.6) {
		sc.Server.Latency = g.pick(0, time.Second, every)
	}
	if sc.Fleet.Sessions > 1 && g.chance(0.7) {
		sc.Fleet.StartSpread = g.pick(0, 0, time.Second, every)
	}
	if g.chance(0.3) {
		sc.Fleet.Sessions += g.r.IntN(10)
		if sc.Fleet.Families > 0 {
			sc.Fleet.Families = min(sc.Fleet.Families, sc.Fleet.Sessions)
		}
	}
	switch g.r.IntN(4) {
	case 0:
		sc.Session.WaitForRefresh = 0
	case 1:
		sc.Session.WaitForRefresh = every
	}
	if g.chance(0.5) {
		p := &sc.Session.Policy
		p.Jitter = policy.NoJitter
		if p.Initial > 0 {
			p.Initial = g.pick(time.Second, every)
		}
		if p.Max > 0 {
			p.Max = max(p.Initial, g.pick(every, 2*every))
		}
	}
	if sc.Share.Kind == ShareStore && g.chance(0.3) {
		sc.Share.Latency = g.pick(0, every)
		sc.Session.Lease = sc.Session.RequestTimeout + 2*sc.Share.Latency + every
	}
	for k := range sc.Server.Faults {
		if f := &sc.Server.Faults[k]; f.Kind == FaultCrashHolder && g.chance(0.5) {
			f.Restart = every
		}
	}
	if g.chance(0.3) {
		at := sc.Duration / time.Duration(2+g.r.IntN(3)) / every * every
		if g.chance(0.5) {
			sc.Server.Faults = append(sc.Server.Faults, Fault{Kind: FaultRejectAccess, Instant: true, From: at, To: sc.Duration})
		} else {
			sc.Server.Faults = append(sc.Server.Faults, Fault{Kind: FaultRejectAccess, From: at, To: at + 10*every})
		}
	}
	if g.chance(0.2) {
		n := g.r.IntN(30)
		sc.Expect.MaxFailedRequests = &n
	}
	if g.chance(0.4) {
		grid(sc, g)
	}
	if g.chance(0.3) {
		sc = withLogin(sc, g, every)
	}
	return sc
}

// withLogin gives sc the way back (fleet.login: outside) or not, a login
// of the workload, and with a shared store processes without a token,
// when the parser takes them: the events of the whole run (a login),
// processes that wait in needs_login, and processes that begin with a
// read of the store. It returns sc unchanged when the parser refuses.
func withLogin(sc *Scenario, g gen, every time.Duration) *Scenario {
	c := *sc
	c.Workload = append(slices.Clip(sc.Workload), Work{Kind: WorkLogin, At: sc.Duration / time.Duration(2+g.r.IntN(3)) / every * every})
	// The faults tieScenario's shorter run left beyond its end act on
	// nothing, and the parser refuses them.
	c.Server.Faults = slices.DeleteFunc(slices.Clone(sc.Server.Faults), func(f Fault) bool { return f.From >= c.Duration })
	if g.chance(0.7) {
		c.Fleet.Login = states.LoginOutside
	}
	if c.Fleet.Families > 0 && c.Share.Kind == ShareStore && g.chance(0.5) {
		c.Fleet.WithoutToken = max(0, c.Fleet.Sessions/c.Fleet.Families-1)
	}
	if g.chance(0.6) {
		// A refusal before the login, which revokes the sessions it
		// meets, or with the way back has them wait in needs_login.
		c.Server.Faults = append(slices.Clip(c.Server.Faults), Fault{Kind: FaultStatus, Status: 400, Error: "invalid_grant", From: sc.Duration / 8, To: sc.Duration / 5})
	}
	parsed, err := Parse(c.Name, MarshalYAML(&c))
	if err != nil {
		return sc
	}
	return parsed
}

// grid puts everything of sc on a one-second grid, with a call every
// second: each answer, retry, round trip and restart meets a call, most
// often one scheduled before it, whose count must come first.
func grid(sc *Scenario, g gen) {
	sc.Duration = min(sc.Duration, time.Hour)
	sc.Workload[0] = Work{Kind: WorkRequests, Every: time.Second, To: sc.Duration}
	sc.Server.Latency = g.pick(0, 0, time.Second)
	sc.Session.WaitForRefresh = 0
	sc.Session.RequestTimeout = g.pick(time.Second, 2*time.Second, 5*time.Second)
	sc.Session.RefreshAhead = g.pick(0, 0, time.Minute, sc.Token.TTL/2)
	sc.ClockSkew, sc.Token.OmitExpiresIn = 0, false
	p := &sc.Session.Policy
	p.Jitter = policy.NoJitter
	if p.Initial > 0 {
		p.Initial = g.pick(time.Second, 2*time.Second)
	}
	if p.Max > 0 {
		p.Max = max(p.Initial, g.pick(time.Second, 3*time.Second, 10*time.Second))
	}
	sc.Share.Latency = g.pick(0, time.Second)
	if g.chance(0.7) {
		sc.Fleet.StartSpread = 0
	}
	sc.Expect.MaxFailedRequests = nil
}

// TestChainCount checks the arithmetic of counting a chain's calls: from
// its next call up to an instant and to its event.
func TestChainCount(t *testing.T) {
	for _, tc := range []struct {
		next, ev, end, upTo int64
		want, nextAfter     int64
	}{
		{next: 0, ev: -1, end: 100, upTo: 10, want: 4, nextAfter: 12}, // 0 3 6 9
		{next: 0, ev: -1, end: 100, upTo: 9, want: 3, nextAfter: 9},
		{next: 0, ev: 6, end: 100, upTo: 10, want: 2, nextAfter: 6},
		{next: 0, ev: -1, end: 7, upTo: math.MaxInt64, want: 3, nextAfter: 9},
		{next: 12, ev: -1, end: 100, upTo: 10, want: 0, nextAfter: 12},
	} {
		r := &run{}
		c := &chain{next: tc.next, ev: tc.ev, mode: modePlain}
		r.count(c, &reqEntry{every: 3, end: tc.end}, tc.upTo)
		if r.stats.Requests != tc.want || c.next != tc.nextAfter || r.stats.FailedRequests != 0 {
			t.Errorf("%+v: counted %d, next %d; want %d, %d", tc, r.stats.Requests, c.next, tc.want, tc.nextAfter)
		}
	}
}

// TestCountedAcrossLogin: the calls of sessions that wait for a login,
// revoked (the login gives them a token) or in needs_login (fleet.login:
// outside; the login is published to their family's store), fail without
// changing anything and are counted in closed form; the calls before the
// login as failed, those after it as plain, as an event per call counts
// them, and a run with a call a second makes less than a tenth of the
// events.
func TestCountedAcrossLogin(t *testing.T) {
	for _, src := range []string{`
name: revoked-then-login
seed: 3
duration: 2h
token: {ttl: 10m}
fleet: {sessions: 3}
server:
  faults:
    - {from: 8m, to: 12m, kind: status, status: 400, error: invalid_grant}
workload:
  - {kind: requests, every: 1s}
  - {kind: login, at: 30m}
`, `
name: needs-login-then-login
seed: 4
duration: 2h
token: {ttl: 10m, rotate: true, reuse_detection: true}
fleet: {sessions: 6, families: 2, login: outside}
share: {kind: store}
server:
  faults:
    - {from: 8m, to: 12m, kind: status, status: 400, error: invalid_grant}
workload:
  - {kind: requests, every: 1s}
  - {kind: login, at: 30m}
`} {
		sc := mustParse(t, src)
		perCallEngine = true
		want := Run(sc, Options{})
		perCallEngine = false
		got := Run(sc, Options{})
		if !bytes.Equal(got.JSON(), want.JSON()) {
			t.Errorf("%s: counted in closed form: %d calls, %d failed; with an event per call: %d, %d",
				sc.Name, got.Stats.Requests, got.Stats.FailedRequests, want.Stats.Requests, want.Stats.FailedRequests)
		}
		if want.Stats.FailedRequests < 1000 || got.Events >= want.Events/10 {
			t.Errorf("%s: %d events counted in closed form, %d with an event per call (%d failed calls)",
				sc.Name, got.Events, want.Events, want.Stats.FailedRequests)
		}
	}
}
