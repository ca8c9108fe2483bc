package policy

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// reject returns the probability with which th rejects an attempt at now
// (probes aside).
func (t *Throttle) reject(now time.Time) float64 {
	t.w.advance(now)
	return t.w.rejectProbability(t.spec.K)
}

func mustThrottle(t testing.TB, s ThrottleSpec) *Throttle {
	t.Helper()
	th, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func TestThrottleSpecBuild(t *testing.T) {
	tests := []struct {
		spec    ThrottleSpec
		want    ThrottleSpec
		wantKey string // the key a *ThrottleSpecError names
		wantErr string
	}{
		{spec: ThrottleSpec{}, want: ThrottleSpec{Kind: "none"}},
		{spec: ThrottleSpec{Kind: "none"}, want: ThrottleSpec{Kind: "none"}},
		{spec: ThrottleSpec{Kind: "adaptive"}, want: ThrottleSpec{Kind: "adaptive", K: 2, Window: 2 * time.Minute, Probe: 30 * time.Second}},
		{spec: ThrottleSpec{Kind: "adaptive", K: 1.1, Window: 10 * time.Second, Probe: time.Minute},
			want: ThrottleSpec{Kind: "adaptive", K: 1.1, Window: 10 * time.Second, Probe: time.Minute}},
		{spec: ThrottleSpec{Kind: "adaptive", K: 1, Window: time.Second, Probe: time.Millisecond},
			want: ThrottleSpec{Kind: "adaptive", K: 1, Window: time.Second, Probe: time.Millisecond}},
		{spec: ThrottleSpec{Kind: "adaptive", Window: 24 * time.Hour, Probe: 24 * time.Hour},
			want: ThrottleSpec{Kind: "adaptive", K: 2, Window: 24 * time.Hour, Probe: 24 * time.Hour}},
		{spec: ThrottleSpec{Kind: "sre"}, wantKey: "kind", wantErr: `policy: throttle kind: unknown kind "sre" (want none or adaptive)`},
		{spec: ThrottleSpec{Kind: "adaptive", K: 0.5}, wantKey: "k", wantErr: "policy: throttle k: 0.5 is not a finite number of at least 1"},
		{spec: ThrottleSpec{Kind: "adaptive", K: -2}, wantKey: "k", wantErr: "policy: throttle k: -2 is not a finite number of at least 1"},
		{spec: ThrottleSpec{Kind: "adaptive", K: math.NaN()}, wantKey: "k", wantErr: "policy: throttle k: NaN is not a finite number of at least 1"},
		{spec: ThrottleSpec{Kind: "adaptive", K: math.Inf(1)}, wantKey: "k", wantErr: "policy: throttle k: +Inf is not a finite number of at least 1"},
		{spec: ThrottleSpec{Kind: "adaptive", Window: 500 * time.Millisecond}, wantKey: "window", wantErr: "policy: throttle window: 500ms is outside [1s, 24h0m0s]"},
		{spec: ThrottleSpec{Kind: "adaptive", Window: -time.Minute}, wantKey: "window", wantErr: "policy: throttle window: -1m0s is outside [1s, 24h0m0s]"},
		{spec: ThrottleSpec{Kind: "adaptive", Window: 25 * time.Hour}, wantKey: "window", wantErr: "policy: throttle window: 25h0m0s is outside [1s, 24h0m0s]"},
		{spec: ThrottleSpec{Kind: "adaptive", Probe: -time.Second}, wantKey: "probe", wantErr: "policy: throttle probe: -1s is outside [1ms, 24h0m0s]"},
		{spec: ThrottleSpec{Kind: "adaptive", Probe: time.Microsecond}, wantKey: "probe", wantErr: "policy: throttle probe: 1µs is outside [1ms, 24h0m0s]"},
		// A setting kind none does not use is an error, not silently ignored.
		{spec: ThrottleSpec{K: 2}, wantKey: "k", wantErr: "policy: throttle k: does not apply to kind none (every attempt is sent)"},
		{spec: ThrottleSpec{Kind: "none", Window: time.Minute}, wantKey: "window", wantErr: "policy: throttle window: does not apply to kind none (every attempt is sent)"},
		{spec: ThrottleSpec{Kind: "none", Probe: time.Second}, wantKey: "probe", wantErr: "policy: throttle probe: does not apply to kind none (every attempt is sent)"},
	}
	for _, tt := range tests {
		th, err := tt.spec.Build()
		if tt.wantErr != "" {
			var se *ThrottleSpecError
			if !errors.As(err, &se) || se.Key != tt.wantKey || err.Error() != tt.wantErr {
				t.Errorf("%+v: error %v, want %s: %q", tt.spec, err, tt.wantKey, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.spec, err)
			continue
		}
		if diff := cmp.Diff(tt.want, th.Spec()); diff != "" {
			t.Errorf("%+v: Spec() (-want +got):\n%s", tt.spec, diff)
		}
	}
}

func TestThrottleNoneSendsEverything(t *testing.T) {
	for name, th := range map[string]*Throttle{"nil": nil, "none": mustThrottle(t, ThrottleSpec{})} {
		for i := range 1000 {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			if !th.Allow(now, randMin) {
				t.Fatalf("%s: attempt %d throttled", name, i)
			}
			th.Record(now, false)
		}
		if got := th.Spec(); got.Kind != "none" {
			t.Errorf("%s: Spec().Kind = %q", name, got.Kind)
		}
	}
}

// TestThrottleProbesThroughOutage keeps the server down for 15 minutes while
// sessions ask at a steady rate, and checks that an attempt is let through
// at least once per probe interval.
func TestThrottleProbesThroughOutage(t *testing.T) {
	const outage = 15 * time.Minute
	tests := []struct {
		name  string
		spec  ThrottleSpec
		every time.Duration // time between asks
		rand  func() uint64
	}{
		{"defaults, r=0 rejects whenever it can", ThrottleSpec{Kind: "adaptive"}, time.Second, func() uint64 { return randMin }},
		{"defaults, random", ThrottleSpec{Kind: "adaptive"}, 100 * time.Millisecond, rand.New(rand.NewPCG(1, 2)).Uint64},
		{"probe 5s, window 1m", ThrottleSpec{Kind: "adaptive", Window: time.Minute, Probe: 5 * time.Second}, 10 * time.Millisecond, rand.New(rand.NewPCG(3, 4)).Uint64},
		{"probe longer than window", ThrottleSpec{Kind: "adaptive", Window: 10 * time.Second, Probe: time.Minute}, 250 * time.Millisecond, func() uint64 { return randMin }},
		{"k 1.1, asks slower than buckets", ThrottleSpec{Kind: "adaptive", K: 1.1}, 7 * time.Second, rand.New(rand.NewPCG(5, 6)).Uint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := mustThrottle(t, tt.spec)
			probe := th.Spec().Probe
			var sent []time.Time
			for now := t0; now.Before(t0.Add(outage)); now = now.Add(tt.every) {
				if th.Allow(now, tt.rand()) {
					sent = append(sent, now)
					th.Record(now, false)
				}
			}
			// Asks are discrete: the probe falls due at most one ask late.
			if want := int(outage / (probe + tt.every)); len(sent) < want {
				t.Errorf("%d attempts sent in %v, want at least %d (one per %v + %v)", len(sent), outage, want, probe, tt.every)
			}
			for i := 1; i < len(sent); i++ {
				if gap := sent[i].Sub(sent[i-1]); gap > probe+tt.every {
					t.Errorf("no attempt sent for %v after %v; probe %v, asks every %v", gap, sent[i-1].Sub(t0), probe, tt.every)
				}
			}
			if len(sent) > int(outage/probe)*3 {
				t.Errorf("%d attempts sent in %v: the throttle hardly throttles", len(sent), outage)
			}
			t.Logf("%d of %d asks sent", len(sent), int(outage/tt.every))
		})
	}
}

// TestThrottleForgetsOutage checks which accepts reset the counts: the
// first after an outage does; one in the middle of an overload does not.
func TestThrottleForgetsOutage(t *testing.T) {
	type step struct {
		at       time.Duration // from t0
		asks     int           // Allow calls with r=randMax (always let through)
		failures int           // of the asks, recorded as failures
		accepts  int           // then recorded as accepts
	}
	// every returns the steps for asks each second over [from, to).
	every := func(from, to time.Duration, s step) []step {
		var out []step
		for at := from; at < to; at += time.Second {
			s.at = at
			out = append(out, s)
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name        string
		steps       []step
		wantForget  bool    // the last accept reset the counts
		wantMinReje float64 // after the last step, without a reset
	}{
		{
			name: "15-minute outage: the first accept forgets it",
			steps: cat(every(0, 15*time.Minute, step{asks: 5, failures: 5}),
				[]step{{at: 15 * time.Minute, asks: 1, accepts: 1}}),
			wantForget: true,
		},
		{
			name: "outage of one probe interval after accepts: forgotten",
			steps: cat(every(0, time.Minute, step{asks: 2, accepts: 2}),
				every(time.Minute, time.Minute+30*time.Second, step{asks: 5, failures: 5}),
				[]step{{at: time.Minute + 30*time.Second, asks: 1, accepts: 1}}),
			wantForget: true,
		},
		{
			name: "short outage with no accept in the window: forgotten",
			steps: cat(every(0, 10*time.Second, step{asks: 5, failures: 5}),
				[]step{{at: 10 * time.Second, asks: 1, accepts: 1}}),
			wantForget: true,
		},
		{
			name: "short outage after accepts: remembered",
			steps: cat(every(0, time.Minute, step{asks: 2, accepts: 2}),
				every(time.Minute, time.Minute+10*time.Second, step{asks: 40, failures: 40}),
				[]step{{at: time.Minute + 10*time.Second, asks: 1, accepts: 1}}),
			wantMinReje: 0.5,
		},
		{
			name:        "overload, one accept in four for 15 minutes: remembered",
			steps:       every(0, 15*time.Minute, step{asks: 4, failures: 3, accepts: 1}),
			wantMinReje: 0.45,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := mustThrottle(t, ThrottleSpec{Kind: "adaptive"})
			var now time.Time
			for _, s := range tt.steps {
				now = t0.Add(s.at)
				for range s.asks {
					if !th.Allow(now, randMax) {
						t.Fatalf("at %v: Allow(r=max) refused", s.at)
					}
				}
				for range s.failures {
					th.Record(now, false)
				}
				for range s.accepts {
					th.Record(now, true)
				}
			}
			p := th.reject(now)
			if tt.wantForget {
				if p != 0 || th.w.nRequests != 1 || th.w.nAccepts != 1 {
					t.Fatalf("after the accept: reject probability %v, %d requests, %d accepts; want 0, 1, 1", p, th.w.nRequests, th.w.nAccepts)
				}
				// Every session's next attempt goes through at once.
				for i := range 100 {
					now = now.Add(100 * time.Millisecond)
					if !th.Allow(now, randMin) {
						t.Fatalf("attempt %d after the accept throttled", i)
					}
					th.Record(now, true)
				}
				return
			}
			if p < tt.wantMinReje {
				t.Errorf("reject probability %v after the last accept, want at least %v (counts kept)", p, tt.wantMinReje)
			}
		})
	}
}

// TestThrottleRatio checks the reject probability against the formula, K's
// bounds included, with r on either side of it.
func TestThrottleRatio(t *testing.T) {
	tests := []struct {
		k                 float64
		requests, accepts int
		want              float64
		rejectsAt, letsAt uint64 // r just below and just above want
	}{
		{k: 2, requests: 10, accepts: 5, want: 0},
		{k: 2, requests: 10, accepts: 4, want: 2.0 / 11},
		{k: 2, requests: 10, accepts: 0, want: 10.0 / 11},
		{k: 1, requests: 10, accepts: 10, want: 0},
		{k: 1, requests: 10, accepts: 9, want: 1.0 / 11},
		{k: 1.5, requests: 100, accepts: 40, want: 40.0 / 101},
		{k: 3, requests: 9, accepts: 3, want: 0},
	}
	for _, tt := range tests {
		th := mustThrottle(t, ThrottleSpec{Kind: "adaptive", K: tt.k, Probe: time.Hour})
		// One attempt through, so that no probe is due; counted below.
		if !th.Allow(t0, randMin) {
			t.Fatal("first attempt throttled")
		}
		th.w.reset()
		i := th.w.advance(t0)
		th.w.requests[i], th.w.accepts[i] = int64(tt.requests), int64(tt.accepts)
		th.w.nRequests, th.w.nAccepts = int64(tt.requests), int64(tt.accepts)
		if got := th.reject(t0); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("k %v, %d requests, %d accepts: reject probability %v, want %v", tt.k, tt.requests, tt.accepts, got, tt.want)
		}
		below := uint64(tt.want*(1<<53))<<11 - 1<<20 // unit(below) < want
		above := uint64(tt.want*(1<<53))<<11 + 1<<20 // unit(above) > want
		if tt.want > 0 {
			if clone := *th; clone.Allow(t0, below) {
				t.Errorf("k %v, %d/%d: Allow(r below %v) let through", tt.k, tt.accepts, tt.requests, tt.want)
			}
		}
		if clone := *th; !clone.Allow(t0, above) {
			t.Errorf("k %v, %d/%d: Allow(r above %v) throttled", tt.k, tt.accepts, tt.requests, tt.want)
		}
	}
	// K ≥ 1: a server that accepts everything is never throttled.
	for _, k := range []float64{1, 2} {
		th := mustThrottle(t, ThrottleSpec{Kind: "adaptive", K: k})
		for i := range 10000 {
			now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
			if !th.Allow(now, randMin) {
				t.Fatalf("k %v: attempt %d to a healthy server throttled", k, i)
			}
			th.Record(now, true)
		}
	}
}

// TestThrottleWindow checks that counts older than the window are dropped,
// and only those.
func TestThrottleWindow(t *testing.T) {
	for _, w := range []time.Duration{time.Second, 2 * time.Minute, time.Hour} {
		th := mustThrottle(t, ThrottleSpec{Kind: "adaptive", Window: w, Probe: time.Millisecond})
		bucket := w / throttleBuckets
		for i := range 100 {
			th.Allow(t0, randMax)
			if i%4 == 0 {
				th.Record(t0, true)
			} else {
				th.Record(t0, false)
			}
		}
		want := (100 - 2*25) / 101.0
		if got := th.reject(t0.Add(w - bucket - 1)); math.Abs(got-want) > 1e-12 {
			t.Errorf("window %v: reject probability %v just inside the window, want %v", w, got, want)
		}
		if got := th.reject(t0.Add(w)); got != 0 || th.w.nRequests != 0 || th.w.nAccepts != 0 {
			t.Errorf("window %v: after the window, reject probability %v with %d requests, %d accepts; want all 0", w, got, th.w.nRequests, th.w.nAccepts)
		}
	}
	// Time going backwards counts in the newest bucket, and a probe is due.
	th := mustThrottle(t, ThrottleSpec{Kind: "adaptive"})
	for i := range 50 {
		th.Allow(t0.Add(time.Duration(i)*time.Second), randMax)
		th.Record(t0.Add(time.Duration(i)*time.Second), false)
	}
	if !th.Allow(t0, randMin) {
		t.Error("time went back: no probe")
	}
	th.Record(t0, false)
	if th.w.nRequests != 51 {
		t.Errorf("time went back: %d requests, want 51", th.w.nRequests)
	}
}

// TestThrottleAttemptsInFlight: attempts let through count when their
// outcome is recorded, not before. A fleet whose sessions refresh at the
// same instant (one deploy started them all) on a healthy server is never
// throttled, however many attempts are in flight together; rejected
// attempts still count at once.
func TestThrottleAttemptsInFlight(t *testing.T) {
	th := mustThrottle(t, ThrottleSpec{Kind: "adaptive"})
	now := t0
	for cycle := range 3 {
		for i := range 1000 {
			if !th.Allow(now, randMin) {
				t.Fatalf("cycle %d: attempt %d of a synchronised fleet throttled with %d requests, %d accepts counted", cycle, i, th.w.nRequests, th.w.nAccepts)
			}
		}
		now = now.Add(200 * time.Millisecond)
		for range 1000 {
			th.Record(now, true)
		}
		now = now.Add(55 * time.Minute)
	}
	// During an outage the failures count, and so do the rejections.
	th = mustThrottle(t, ThrottleSpec{Kind: "adaptive"})
	for i := range 10 {
		th.Allow(t0, randMax)
		th.Record(t0.Add(time.Duration(i)), false)
	}
	if th.w.nRequests != 10 {
		t.Fatalf("%d requests after 10 failures, want 10", th.w.nRequests)
	}
	if th.Allow(t0.Add(time.Second), randMin) {
		t.Fatal("attempt after 10 failures let through with r=0")
	}
	if th.w.nRequests != 11 {
		t.Errorf("%d requests after a rejection, want 11", th.w.nRequests)
	}
}

// TestThrottleDeterministic feeds two throttles the same times, random
// numbers and outcomes, and expects the same decisions.
func TestThrottleDeterministic(t *testing.T) {
	run := func(seed uint64) []bool {
		th := mustThrottle(t, ThrottleSpec{Kind: "adaptive", Probe: 5 * time.Second})
		r := rand.New(rand.NewPCG(seed, 7))
		var out []bool
		now := t0
		for i := range 20000 {
			now = now.Add(time.Duration(r.IntN(200)) * time.Millisecond)
			ok := th.Allow(now, r.Uint64())
			out = append(out, ok)
			if ok {
				th.Record(now, i > 15000 || r.IntN(10) == 0)
			}
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different decisions (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("different seeds, same 20000 decisions")
	}
}

func TestAccepted(t *testing.T) {
	tests := []struct {
		name string
		in   Outcome
		want bool
	}{
		{"token", Outcome{Status: 200}, true},
		{"invalid_grant", Outcome{Status: 400, ErrorCode: "invalid_grant"}, true},
		{"invalid_client", Outcome{Status: 401, ErrorCode: "invalid_client"}, true},
		{"unknown OAuth2 code", Outcome{Status: 400, ErrorCode: "no_such_code"}, true},
		{"200 with an OAuth2 error", Outcome{Status: 200, ErrorCode: "invalid_grant"}, true},
		{"5xx with a permanent code", Outcome{Status: 500, ErrorCode: "invalid_grant"}, true},
		{"timeout", Outcome{Err: errors.New("context deadline exceeded"), Sent: true}, false},
		{"connection refused", Outcome{Err: errors.New("connection refused")}, false},
		{"503", Outcome{Status: 503, RetryAfter: "5"}, false},
		{"502 page", Outcome{Status: 502}, false},
		{"503 temporarily_unavailable", Outcome{Status: 503, ErrorCode: "temporarily_unavailable"}, false},
		{"429", Outcome{Status: 429, RetryAfter: "30"}, false},
		{"429 slow_down", Outcome{Status: 429, ErrorCode: "slow_down"}, false},
		{"408", Outcome{Status: 408}, false},
		{"400 temporarily_unavailable", Outcome{Status: 400, ErrorCode: "temporarily_unavailable"}, false},
		{"400 server_error", Outcome{Status: 400, ErrorCode: "server_error"}, false},
		{"400 slow_down", Outcome{Status: 400, ErrorCode: "slow_down"}, false},
		{"HTML 200", Outcome{Status: 200, Err: errors.New("token response is text/html")}, false},
		{"WAF 403", Outcome{Status: 403}, false},
		{"bare 401 challenge", Outcome{Status: 401, Challenge: "Basic"}, false},
		{"404 page", Outcome{Status: 404}, false},
		{"redirect", Outcome{Status: 302}, false},
	}
	for _, tt := range tests {
		if got := Accepted(tt.in); got != tt.want {
			t.Errorf("%s: Accepted(%+v) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzThrottleProbe drives a throttle with arbitrary settings, gaps, random
// numbers and outcomes, and checks that Allow never refuses for longer than
// the probe interval: a refusal at now means an attempt was let through in
// (now − Probe, now].
func FuzzThrottleProbe(f *testing.F) {
	f.Add(uint8(20), uint8(2), uint8(5), []byte{0, 0, 0, 1, 2, 3, 255, 255, 9, 9, 9, 9})
	f.Add(uint8(10), uint8(120), uint8(30), []byte("a long outage, then the server is back"))
	f.Add(uint8(255), uint8(1), uint8(1), []byte{200, 201, 202, 203, 0, 0, 0, 0, 100, 101})
	f.Fuzz(func(t *testing.T, k, windowSec, probeSec uint8, ops []byte) {
		spec := ThrottleSpec{
			Kind:   "adaptive",
			K:      1 + float64(k)/16,
			Window: time.Duration(max(windowSec, 1)) * time.Second,
			Probe:  time.Duration(max(probeSec, 1)) * time.Second,
		}
		th := mustThrottle(t, spec)
		now := t0
		var last time.Time
		sent := false
		r := rand.New(rand.NewPCG(uint64(k), uint64(len(ops))))
		for i, op := range ops {
			// Low bits: the gap, up to about 16 s in 250 ms steps (0 is
			// common); high bits: the outcome of an attempt let through.
			now = now.Add(time.Duration(op&0x3f) * 250 * time.Millisecond)
			if !th.Allow(now, r.Uint64()) {
				if !sent || now.Sub(last) >= spec.Probe {
					t.Fatalf("op %d at %v: refused, last attempt let through at %v (sent %v), probe %v",
						i, now.Sub(t0), last.Sub(t0), sent, spec.Probe)
				}
				continue
			}
			sent, last = true, now
			th.Record(now, op&0xc0 == 0xc0)
		}
	})
}

func BenchmarkThrottle(b *testing.B) {
	th := mustThrottle(b, ThrottleSpec{Kind: "adaptive"})
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(37 * time.Millisecond)
		if th.Allow(now, r.Uint64()) {
			th.Record(now, i%3 == 0)
		}
	}
}
