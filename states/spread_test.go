package states

import (
	"testing"
	"time"
)

// refreshAt returns the refresh point that machine m sets for a session
// seeded with seed holding generation gen of a pair issued at epoch that
// lives life.
func refreshAt(m *Machine, seed, gen uint64, life time.Duration) time.Time {
	d := NewData(seed, epoch, epoch.Add(life), StartGeneration(gen))
	d, _ = m.Step(d, Input{Kind: InWake}, epoch)
	return d.NextAt()
}

// TestRefreshSpread: a coordinated session's refresh point moves earlier by
// a jitter drawn from its seed and the pair's generation, at most a tenth of
// the margin in force and at most MaxRefreshSpread, in whole milliseconds;
// any other session keeps today's refresh point exactly.
func TestRefreshSpread(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ahead  time.Duration
		life   time.Duration
		margin time.Duration // from the unspread point to expiry
		bound  time.Duration // the largest spread allowed
	}{
		{"default margin", DefaultRefreshAhead, time.Hour, DefaultRefreshAhead, MaxRefreshSpread},
		{"long margin, capped", 20 * time.Minute, time.Hour, 20 * time.Minute, MaxRefreshSpread},
		{"short margin", 40 * time.Second, time.Hour, 40 * time.Second, 4 * time.Second},
		{"margin beyond half the lifetime", DefaultRefreshAhead, 2 * time.Minute, time.Minute, 6 * time.Second},
		{"no margin", 0, time.Hour, 0, 0},
		{"margin of 9 ms", 9 * time.Millisecond, time.Hour, 9 * time.Millisecond, 0},
		{"short-lived token", DefaultRefreshAhead, MinLifetime / 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			solo := NewMachine(Config{RefreshAhead: tc.ahead, Shared: true})
			family := NewMachine(Config{RefreshAhead: tc.ahead, Coordinated: true})
			due := epoch.Add(tc.life - tc.margin)
			distinct := map[time.Time]bool{}
			for seed := range uint64(50) {
				for gen := range uint64(4) {
					if at := refreshAt(solo, seed, gen, tc.life); !at.Equal(due) {
						t.Fatalf("solo session, seed %d: refresh point %v, want exactly %v", seed, at.Sub(epoch), tc.life-tc.margin)
					}
					at := refreshAt(family, seed, gen, tc.life)
					spread := due.Sub(at)
					if spread < 0 || spread > tc.bound || tc.bound > 0 && spread == tc.bound || spread%time.Millisecond != 0 {
						t.Fatalf("seed %d, generation %d: refresh point %v before the margin's, want in [0, %v) in whole ms", seed, gen, spread, tc.bound)
					}
					if at.Before(epoch) || !at.Before(epoch.Add(tc.life)) && tc.margin > 0 {
						t.Fatalf("seed %d: refresh point %v outside the token's life %v", seed, at.Sub(epoch), tc.life)
					}
					if again := refreshAt(family, seed, gen, tc.life); !again.Equal(at) {
						t.Fatalf("seed %d, generation %d: refresh point %v, then %v", seed, gen, at, again)
					}
					distinct[at] = true
				}
			}
			if tc.bound >= time.Second && len(distinct) < 150 {
				t.Errorf("200 sessions and generations drew %d distinct refresh points", len(distinct))
			}
			if tc.bound == 0 && len(distinct) != 1 {
				t.Errorf("no room for a spread, yet %d refresh points", len(distinct))
			}
		})
	}
}

// TestRefreshSpreadDrawsNothing: the spread takes nothing from the random
// source the retry policy draws from, so a session's delays are those of
// the same seed without it; and a restarted session keeps its spread.
func TestRefreshSpreadDrawsNothing(t *testing.T) {
	m := NewMachine(Config{RefreshAhead: DefaultRefreshAhead, Coordinated: true})
	d := NewData(9, epoch, epoch.Add(time.Hour), StartGeneration(3))
	before := d.rand
	d, _ = m.Step(d, Input{Kind: InWake}, epoch)
	if d.rand != before {
		t.Error("computing the refresh point drew from the session's random source")
	}
	r := d.Restarted(epoch, epoch.Add(time.Hour), StartGeneration(3))
	if r, _ = m.Step(r, Input{Kind: InWake}, epoch); !r.NextAt().Equal(d.NextAt()) {
		t.Errorf("restarted: refresh point %v, want %v", r.NextAt(), d.NextAt())
	}
}
