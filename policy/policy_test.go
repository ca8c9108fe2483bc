package policy

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	randMin = uint64(0)
	randMax = ^uint64(0)
	randMid = uint64(1) << 63
)

func TestExponentialSchedule(t *testing.T) {
	p := Exponential{Initial: time.Second, Multiplier: 2, Max: 10 * time.Second}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		d, ok := p.Delay(Attempt{N: n})
		if !ok {
			t.Fatalf("attempt %d: gave up without limits", n)
		}
		got = append(got, d)
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}
}

func TestExponentialHugeAttemptDoesNotOverflow(t *testing.T) {
	for _, p := range []Exponential{
		{Initial: time.Second, Multiplier: 2, Max: time.Minute},
		{Initial: time.Second, Multiplier: 10}, // no max: bounded by the int64 range
	} {
		d, _ := p.Delay(Attempt{N: 10000, Rand: randMax})
		if d <= 0 {
			t.Errorf("%+v: delay %v after 10000 attempts", p, d)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		a      Attempt
		lo, hi time.Duration
	}{
		{"full low", Exponential{Initial: 4 * time.Second, Multiplier: 2, Jitter: FullJitter}, Attempt{N: 1, Rand: randMin}, 0, 0},
		{"full high", Exponential{Initial: 4 * time.Second, Multiplier: 2, Jitter: FullJitter}, Attempt{N: 1, Rand: randMax}, 4 * time.Second, 4 * time.Second},
		{"full mid", Exponential{Initial: 4 * time.Second, Multiplier: 2, Jitter: FullJitter}, Attempt{N: 1, Rand: randMid}, 2 * time.Second, 2 * time.Second},
		{"equal low", Exponential{Initial: 4 * time.Second, Multiplier: 2, Jitter: EqualJitter}, Attempt{N: 1, Rand: randMin}, 2 * time.Second, 2 * time.Second},
		{"equal high", Exponential{Initial: 4 * time.Second, Multiplier: 2, Jitter: EqualJitter}, Attempt{N: 1, Rand: randMax}, 4 * time.Second, 4 * time.Second},
		{"decorrelated first", Exponential{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: DecorrelatedJitter}, Attempt{N: 1, Rand: randMax}, 3 * time.Second, 3 * time.Second},
		{"decorrelated grows from prev", Exponential{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: DecorrelatedJitter}, Attempt{N: 3, Prev: 10 * time.Second, Rand: randMax}, 30 * time.Second, 30 * time.Second},
		{"decorrelated capped", Exponential{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: DecorrelatedJitter}, Attempt{N: 9, Prev: time.Minute, Rand: randMax}, time.Minute, time.Minute},
		{"decorrelated floor", Exponential{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: DecorrelatedJitter}, Attempt{N: 9, Prev: time.Minute, Rand: randMin}, time.Second, time.Second},
		{"constant", Constant{Wait: 5 * time.Second}, Attempt{N: 7, Rand: randMax}, 5 * time.Second, 5 * time.Second},
		{"constant full", Constant{Wait: 5 * time.Second, Jitter: FullJitter}, Attempt{N: 7, Rand: randMid}, 2500 * time.Millisecond, 2500 * time.Millisecond},
		{"constant decorrelated", Constant{Wait: 5 * time.Second, Jitter: DecorrelatedJitter}, Attempt{N: 2, Rand: randMax}, 15 * time.Second, 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := tt.p.Delay(tt.a)
			if !ok || d < tt.lo || d > tt.hi {
				t.Errorf("Delay(%+v) = %v, %v; want [%v, %v], true", tt.a, d, ok, tt.lo, tt.hi)
			}
		})
	}
}

// TestJitterStaysInRange draws many random numbers and checks every delay
// lies within the formula's interval.
func TestJitterStaysInRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, DecorrelatedJitter} {
		p := Exponential{Initial: 500 * time.Millisecond, Multiplier: 1.5, Max: 30 * time.Second, Jitter: j}
		var prev time.Duration
		for n := 1; n <= 2000; n++ {
			d, _ := p.Delay(Attempt{N: n%20 + 1, Prev: prev, Rand: r.Uint64()})
			if d < 0 || d > p.Max {
				t.Fatalf("jitter %v attempt %d: delay %v outside [0, %v]", j, n, d, p.Max)
			}
			if j == DecorrelatedJitter && d < p.Initial {
				t.Fatalf("decorrelated delay %v below initial", d)
			}
			prev = d
		}
	}
}

func TestLimits(t *testing.T) {
	p := Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute, Limits: Limits{MaxAttempts: 3}}
	for n, want := range map[int]bool{1: true, 2: true, 3: false, 4: false} {
		if _, ok := p.Delay(Attempt{N: n}); ok != want {
			t.Errorf("max_attempts 3, attempt %d: again=%v", n, ok)
		}
	}
	c := Constant{Wait: 10 * time.Second, Limits: Limits{MaxElapsed: time.Minute}}
	if _, ok := c.Delay(Attempt{N: 5, Elapsed: 50 * time.Second}); !ok {
		t.Error("max_elapsed 1m: attempt at 50s+10s refused")
	}
	if _, ok := c.Delay(Attempt{N: 6, Elapsed: 51 * time.Second}); ok {
		t.Error("max_elapsed 1m: attempt at 51s+10s allowed")
	}
	if _, ok := (None{}).Delay(Attempt{N: 1}); ok {
		t.Error("None retried")
	}
}

func TestDefault(t *testing.T) {
	want := Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: FullJitter}
	if diff := cmp.Diff(want, Default()); diff != "" {
		t.Errorf("Default() (-want +got):\n%s", diff)
	}
	p, err := DefaultSpec().Build()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Policy(want), p); diff != "" {
		t.Errorf("DefaultSpec().Build() (-want +got):\n%s", diff)
	}
}

func TestSpecBuild(t *testing.T) {
	tests := []struct {
		spec    Spec
		want    Policy
		wantErr string
	}{
		{Spec{Kind: "none"}, None{}, ""},
		{Spec{Kind: "constant", Initial: 2 * time.Second, Jitter: EqualJitter, MaxAttempts: 4}, Constant{Wait: 2 * time.Second, Jitter: EqualJitter, Limits: Limits{MaxAttempts: 4}}, ""},
		{Spec{Kind: "exponential", Initial: time.Second, Multiplier: 3, Max: 9 * time.Second, MaxElapsed: time.Hour}, Exponential{Initial: time.Second, Multiplier: 3, Max: 9 * time.Second, Limits: Limits{MaxElapsed: time.Hour}}, ""},
		{Spec{Kind: "fibonacci"}, nil, `policy: unknown kind "fibonacci" (want none, constant or exponential)`},
		{Spec{Kind: "constant"}, nil, "policy: constant policy needs a positive initial delay, got 0s"},
		{Spec{Kind: "exponential", Initial: time.Second, Multiplier: 0.5}, nil, "policy: multiplier 0.5 is below 1"},
		{Spec{Kind: "exponential", Initial: time.Minute, Multiplier: 2, Max: time.Second}, nil, "policy: max 1s is below initial 1m0s"},
		{Spec{Kind: "none", MaxAttempts: -1}, nil, "policy: max_attempts -1 is negative"},
		{Spec{Kind: "none", MaxElapsed: -time.Second}, nil, "policy: max_elapsed -1s is negative"},
		// A setting the kind does not use is an error, not silently ignored.
		{Spec{Kind: "constant", Initial: time.Second, Multiplier: 2}, nil, "policy: multiplier does not apply to a constant policy"},
		{Spec{Kind: "constant", Initial: time.Second, Max: time.Minute}, nil, "policy: max does not apply to a constant policy (initial is its wait)"},
		{Spec{Kind: "none", Initial: time.Second}, nil, "policy: initial does not apply to policy none (one attempt per cycle, no delays or limits)"},
		{Spec{Kind: "none", Jitter: FullJitter}, nil, "policy: jitter does not apply to policy none (one attempt per cycle, no delays or limits)"},
		{Spec{Kind: "none", MaxAttempts: 3}, nil, "policy: max_attempts does not apply to policy none (one attempt per cycle, no delays or limits)"},
		{DefaultSpec().WithKind("constant"), Constant{Wait: time.Second, Jitter: FullJitter}, ""},
		{DefaultSpec().WithKind("none"), None{}, ""},
		{Spec{Kind: "none"}.WithKind("exponential"), Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute}, ""},
		{Spec{Kind: "exponential", Initial: time.Second, Multiplier: 3}.WithKind("exponential"), Exponential{Initial: time.Second, Multiplier: 3}, ""},
	}
	for _, tt := range tests {
		got, err := tt.spec.Build()
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.spec, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.spec, diff)
		}
	}
}

func TestParseJitter(t *testing.T) {
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, DecorrelatedJitter} {
		got, err := ParseJitter(j.String())
		if err != nil || got != j {
			t.Errorf("ParseJitter(%q) = %v, %v", j.String(), got, err)
		}
	}
	if _, err := ParseJitter("random"); err == nil {
		t.Error("ParseJitter(random) succeeded")
	}
}

func BenchmarkPolicyNext(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, bc := range []struct {
		name string
		p    Policy
	}{
		{"exponential-full", Default()},
		{"exponential-decorrelated", Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: DecorrelatedJitter}},
		{"constant", Constant{Wait: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var prev time.Duration
			for i := 0; b.Loop(); i++ {
				prev, _ = bc.p.Delay(Attempt{N: i%12 + 1, Prev: prev, Rand: r.Uint64()})
			}
		})
	}
	// Baseline: drawing the random number alone.
	b.Run("floor-rand", func(b *testing.B) {
		b.ReportAllocs()
		var sink uint64
		for b.Loop() {
			sink += r.Uint64()
		}
		_ = sink
	})
}
