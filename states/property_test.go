package states

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// checkStep asserts the invariants of docs/DESIGN.md on one step: every
// transition is legal in the table and the records chain from the old state
// to the new one; only a permanent verdict or an explicit revoke reaches
// Revoked, and a suspect one only when it repeats; a refresh starts only on entering Refreshing (so at most one is in
// flight); a usable token stays usable unless it was rejected, revoked or
// replaced; the wake-up is never in the past.
func checkStep(t testing.TB, before Data, in Input, after Data, fx *Effects) {
	t.Helper()
	now := time.Time{}
	state := before.state
	for i, tr := range fx.Transitions() {
		if i == 0 {
			now = tr.At
		}
		if tr.From != state {
			t.Fatalf("transition %d starts in %v, session was in %v", i, tr.From, state)
		}
		if to, ok := Next(tr.From, tr.Event); !ok || to != tr.To {
			t.Fatalf("illegal transition %v -%v-> %v", tr.From, tr.Event, tr.To)
		}
		permanent := in.Kind == InResult && (in.Verdict.Class == policy.Permanent ||
			in.Verdict.Class == policy.Suspect && after.suspectN >= policy.SuspectRepeats)
		// The one revocation the server does not pronounce: a vanished
		// holder's mark on the generation this process would present.
		crashed := in.Kind == InFamily && in.Marked && in.MarkGeneration == before.gen && tr.Reason == ReasonCrashedHolder
		// A final refusal, taken in once the store read again held nothing
		// newer (Config.Shared).
		verified := in.Kind == InFamily && before.step == stepVerify && in.Flight == before.flight
		// A logout by another process: the family's pair removed.
		loggedOut := in.Kind == InFamily && in.Removed && tr.Reason == ReasonLoggedOut
		// Nothing to present: no refresh token, no fallback grant.
		nothing := in.Kind == InNoRefresh && (tr.Reason == ReasonNoTokenYet || tr.Reason == ReasonNoRefreshToken)
		if tr.Event == Deny && !permanent && !crashed && !verified {
			t.Fatalf("deny without a permanent verdict or repeated suspect ones: input %+v, suspects %d", in, after.suspectN)
		}
		if tr.Event == NeedLogin && !permanent && !crashed && !verified && !loggedOut && !nothing {
			t.Fatalf("need_login without a refusal, a logout or nothing to present: input %+v, reason %v", in, tr.Reason)
		}
		if tr.To == Revoked && !(tr.Event == Deny || tr.Event == Revoke && (in.Kind == InRevoke || loggedOut)) {
			t.Fatalf("revoked by %v on input %+v", tr.Event, in)
		}
		if tr.To == LoggingIn && (in.Kind != InDemand || !fx.Login) {
			t.Fatalf("a login started on %+v without asking for it", in)
		}
		state = tr.To
	}
	if state != after.state {
		t.Fatalf("records end in %v, session is in %v", state, after.state)
	}
	if fx.StartRefresh {
		if after.state != Refreshing || fx.Flight != after.flight || fx.Flight <= before.flight {
			t.Fatalf("start_refresh flight %d with state %v, flight %d -> %d", fx.Flight, after.state, before.flight, after.flight)
		}
	}
	if after.state == Refreshing && before.state != Refreshing && !fx.StartRefresh {
		t.Fatalf("entered refreshing without starting a refresh")
	}
	if before.state == Refreshing && after.state == Refreshing && in.Kind != InSetToken && fx.StartRefresh {
		t.Fatalf("second refresh started while one is in flight")
	}
	if fx.Send != GrantNone && (after.state != Refreshing || after.step != stepSend || fx.Flight != after.flight) {
		t.Fatalf("send %v in %v at step %d, flight %d of %d", fx.Send, after.state, after.step, fx.Flight, after.flight)
	}
	if fx.Store != StoreNone && (fx.Flight != after.flight || after.step == stepNone) {
		t.Fatalf("store %v for flight %d of %d at step %d", fx.Store, fx.Flight, after.flight, after.step)
	}
	if fx.WakeAt != after.nextAt {
		t.Fatalf("wake_at %v, next_at %v", fx.WakeAt, after.nextAt)
	}
	if len(fx.Transitions()) > 0 && !fx.WakeAt.IsZero() && fx.WakeAt.Before(now) {
		t.Fatalf("wake-up %v before now %v", fx.WakeAt, now)
	}
	if after.state == Backoff && after.nextAt.IsZero() {
		t.Fatalf("backoff without a retry time")
	}
	if after.state == Valid && len(fx.Transitions()) > 0 && !after.Usable(now) {
		t.Fatalf("valid with an unusable token at %v (expiry %v)", now, after.expiry)
	}
}

// gen feeds a machine plausible random inputs: results only for the flight
// in flight (and sometimes a stale one), wake-ups at the requested instant,
// demands, rejections, and the occasional revoke or re-login.
type gen struct {
	r      *rand.Rand
	now    time.Time
	flight uint64
}

func (g *gen) input(d Data, wake time.Time) (Input, time.Time) {
	if !wake.IsZero() && wake.After(g.now) && g.r.IntN(3) > 0 {
		g.now = wake
	} else {
		g.now = g.now.Add(time.Duration(g.r.Int64N(int64(90 * time.Second))))
	}
	switch k := g.r.IntN(100); {
	case k < 2:
		in := Input{Kind: InRevoke, Detail: "logout"}
		if g.r.IntN(2) == 0 {
			in.Reason = ReasonLogout
		}
		return in, g.now
	case k < 3 && d.state == LoggingIn:
		in := Input{Kind: InLoggedIn, Flight: d.flight, Issued: g.now, Expiry: g.now.Add(time.Duration(g.r.Int64N(int64(2 * time.Hour))))}
		if g.r.IntN(2) == 0 {
			in = Input{Kind: InLoginFailed, Flight: d.flight, Detail: "access_denied"}
		}
		return in, g.now
	case k < 4:
		return Input{Kind: InSetToken, Issued: g.now, Expiry: g.now.Add(time.Duration(g.r.Int64N(int64(2 * time.Hour))))}, g.now
	case k < 10:
		return Input{Kind: InReject}, g.now
	case k < 13:
		return Input{Kind: InAccept}, g.now
	case k < 15:
		return Input{Kind: InAdopt, Issued: g.now, Expiry: g.now.Add(time.Duration(g.r.Int64N(int64(2 * time.Hour)))), Generation: 2}, g.now
	case k < 20 && d.state == Refreshing:
		return Input{Kind: InBusy, Flight: g.flight, Until: g.now.Add(time.Duration(g.r.Int64N(int64(time.Minute))))}, g.now
	case k < 30:
		return Input{Kind: InDemand}, g.now
	case k < 75 && d.state == Refreshing:
		in := Input{Kind: InResult, Flight: g.flight, Verdict: g.verdict()}
		if g.r.IntN(20) == 0 {
			in.Flight-- // stale
		}
		if in.Verdict.Class == policy.OK {
			in.Issued = g.now
			in.Expiry = g.now.Add(time.Duration(g.r.Int64N(int64(2*time.Hour))) - time.Minute)
			if g.r.IntN(8) == 0 {
				in.Expiry = g.now.Add(time.Duration(g.r.Int64N(int64(2 * MinLifetime)))) // around the floor
			}
		}
		return in, g.now
	}
	return Input{Kind: InWake}, g.now
}

func (g *gen) verdict() policy.Verdict {
	statuses := []int{200, 200, 200, 502, 503, 504, 429, 408, 404, 400, 401, 403, 500}
	o := policy.Outcome{Status: statuses[g.r.IntN(len(statuses))], Sent: g.r.IntN(2) == 0, At: g.now}
	switch g.r.IntN(4) {
	case 0:
		o.Status = 0
		o.Err = errRefused
	case 1:
		codes := []string{"invalid_grant", "temporarily_unavailable", "invalid_client", "slow_down", "", "invalid_request", "invalid_request"}
		o.ErrorCode = codes[g.r.IntN(len(codes))]
		if g.r.IntN(3) == 0 {
			o.Description = "Please retry the request."
		}
	}
	if g.r.IntN(4) == 0 {
		o.RetryAfter = []string{"1", "30", "3600", "soon"}[g.r.IntN(4)]
	}
	return policy.Classify(o)
}

type stringError string

func (e stringError) Error() string { return string(e) }

const errRefused = stringError("connect: connection refused")

var propertyPolicies = []policy.Spec{
	policy.DefaultSpec(),
	{Kind: "none"},
	{Kind: "constant", Initial: 5 * time.Second, Jitter: policy.EqualJitter, MaxAttempts: 4},
	{Kind: "exponential", Initial: time.Second, Multiplier: 3, Max: 2 * time.Minute, Jitter: policy.DecorrelatedJitter, MaxElapsed: 10 * time.Minute},
	{Kind: "exponential", Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second, MaxAttempts: 2},
}

// runRandom drives one machine with n random inputs from seed.
func runRandom(t testing.TB, seed uint64, n int) {
	r := rand.New(rand.NewPCG(seed, 0))
	spec := propertyPolicies[r.IntN(len(propertyPolicies))]
	p, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMachine(Config{Policy: p, RefreshAhead: []time.Duration{0, time.Minute, 5 * time.Minute, 3 * time.Hour}[r.IntN(4)],
		Shared: seed%2 == 1, Login: LoginMode(seed / 2 % 3)})
	g := &gen{r: r, now: epoch}
	d := NewData(seed, epoch, epoch.Add(time.Duration(r.Int64N(int64(2*time.Hour)))))
	var wake time.Time
	for range n {
		in, now := g.input(d, wake)
		next, fx := m.Step(d, in, now)
		checkStep(t, d, in, next, &fx)
		if fx.StartRefresh {
			g.flight = fx.Flight
		}
		d, wake = next, fx.WakeAt
	}
}

func TestRandomInputsKeepInvariants(t *testing.T) {
	for seed := range uint64(2000) {
		runRandom(t, seed, 300)
	}
}

// TestTransientNeverRevokes runs long outages of every transient kind under
// every policy and checks the session never leaves the refresh loop for
// Revoked, and that a demand after a given-up cycle starts a fresh one.
func TestTransientNeverRevokes(t *testing.T) {
	transient := []policy.Outcome{{Status: 502}, {Status: 503, RetryAfter: "120"}, {Status: 429, RetryAfter: "30"},
		{Status: 404}, {Status: 200, Err: stringError("html")}, {Err: errRefused}, {Err: stringError("timeout"), Sent: true},
		{Status: 500, ErrorCode: "server_error"}, {Status: 400, ErrorCode: "invalid_request", Description: hydraConflict}}
	for _, spec := range propertyPolicies {
		p, _ := spec.Build()
		m := NewMachine(Config{Policy: p})
		for _, o := range transient {
			d := NewData(3, epoch, epoch.Add(time.Hour))
			now := epoch.Add(time.Hour)
			d, fx := m.Step(d, Input{Kind: InWake}, now)
			cycles := 1
			for range 500 {
				var in Input
				switch {
				case fx.StartRefresh:
					in = Input{Kind: InResult, Flight: fx.Flight, Verdict: policy.Classify(o)}
				case !fx.WakeAt.IsZero():
					now = fx.WakeAt
					in = Input{Kind: InWake}
				default:
					now = now.Add(time.Minute)
					in = Input{Kind: InDemand}
					cycles++
				}
				next, f := m.Step(d, in, now)
				checkStep(t, d, in, next, &f)
				d, fx = next, f
				if d.state == Revoked {
					t.Fatalf("%+v under %+v: revoked by a transient failure", o, spec)
				}
			}
			if _, ok := p.(policy.None); ok && cycles < 2 {
				t.Errorf("%+v under none: no fresh cycle after giving up", o)
			}
		}
	}
}

// hydraConflict is Ory Hydra's (fosite's) answer to a refresh that lost a
// storage conflict and rolled back.
const hydraConflict = "The request is missing a required parameter, includes an invalid parameter value, " +
	"includes a parameter more than once, or is otherwise malformed. Failed to refresh token because of " +
	"multiple concurrent requests using the same token. Please retry the request."

// TestSuspectRevokesOnlyWhenRepeated: under every policy, an invalid_request
// answered to every attempt revokes at the policy.SuspectRepeats-th
// request, across cycles when the policy gives up sooner; one that another
// failure interrupts each time never revokes.
func TestSuspectRevokesOnlyWhenRepeated(t *testing.T) {
	suspect := policy.Outcome{Status: 400, ErrorCode: "invalid_request"}
	for _, spec := range propertyPolicies {
		p, _ := spec.Build()
		m := NewMachine(Config{Policy: p})
		for _, interrupted := range []bool{false, true} {
			d := NewData(3, epoch, epoch.Add(time.Hour))
			now := epoch.Add(time.Hour)
			d, fx := m.Step(d, Input{Kind: InWake}, now)
			requests := 0
			for range 500 {
				var in Input
				switch {
				case fx.StartRefresh:
					requests++
					o := suspect
					if interrupted && requests%suspectEvery == 0 {
						o = policy.Outcome{Status: 502}
					}
					in = Input{Kind: InResult, Flight: fx.Flight, Verdict: policy.Classify(o)}
				case !fx.WakeAt.IsZero():
					now = fx.WakeAt
					in = Input{Kind: InWake}
				default:
					now = now.Add(time.Minute)
					in = Input{Kind: InDemand}
				}
				next, f := m.Step(d, in, now)
				checkStep(t, d, in, next, &f)
				d, fx = next, f
				if d.state == Revoked {
					break
				}
			}
			switch {
			case interrupted && d.state == Revoked:
				t.Fatalf("%+v: revoked by interrupted invalid_request answers (%q)", spec, d.Cause())
			case !interrupted && (d.state != Revoked || requests != policy.SuspectRepeats):
				t.Fatalf("%+v: %v after %d requests, want revoked after %d", spec, d.state, requests, policy.SuspectRepeats)
			case !interrupted && d.Cause() != "400 invalid_request: the same refusal 3 times in a row":
				t.Errorf("%+v: cause %q", spec, d.Cause())
			}
		}
	}
}

// suspectEvery interrupts a run of suspect refusals before it is final.
const suspectEvery = policy.SuspectRepeats - 1

func FuzzMachine(f *testing.F) {
	for _, s := range []uint64{1, 7, 42, 1 << 40} {
		f.Add(s, uint16(200))
	}
	f.Fuzz(func(t *testing.T, seed uint64, n uint16) {
		runRandom(t, seed, int(n%2000))
	})
}
