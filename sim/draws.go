package sim

import (
	"math/rand/v2"
	"time"
)

// Epoch returns the server's wall-clock reading at the start of every run:
// the origin of the times the model's server writes (a JWT's exp and iat),
// 2026-01-01 00:00:00 UTC. Only differences matter; a fixed value keeps
// runs reproducible.
func Epoch() time.Time { return epoch }

// EachSession calls each, in order, with every session's index, the seed
// of its jitter (its states.Data.Rand, as states.NewData seeds it) and the
// instant it starts, as Run draws them from the scenario's seed: a runtime
// session given that seed (session.WithSeed) draws the same delays.
func EachSession(sc *Scenario, each func(i int, seed uint64, start time.Duration)) {
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	for i := range sc.Fleet.Sessions {
		seed := rng.Uint64()
		var start int64
		if sc.Fleet.StartSpread > 0 {
			start = rng.Int64N(int64(sc.Fleet.StartSpread))
		}
		each(i, seed, time.Duration(start))
	}
}

// Families returns the number of refresh-token families of the run: one
// per session unless fleet.families splits them.
func (sc *Scenario) Families() int {
	n := sc.Fleet.Sessions
	if f := sc.Fleet.Families; f > 0 {
		return min(f, n)
	}
	return n
}

// FamilyOf returns the family of session i: the sessions are split evenly,
// in order, among the families.
func (sc *Scenario) FamilyOf(i int) int {
	n, k := sc.Fleet.Sessions, sc.Families()
	if n == k {
		return i
	}
	return int(uint64(i) * uint64(k) / uint64(n))
}

// StartsWithoutToken reports whether session i starts with no token at all
// (fleet.without_token): it is one of the last WithoutToken processes of
// its family.
func (sc *Scenario) StartsWithoutToken(i int) bool {
	w := sc.Fleet.WithoutToken
	if w == 0 {
		return false
	}
	f, n, k := sc.FamilyOf(i), uint64(sc.Fleet.Sessions), uint64(sc.Families())
	hi := int((uint64(f+1)*n + k - 1) / k) // the family's sessions are [.., hi)
	return i+w >= hi
}

// RestartSeed returns the seed of the session that process i starts when a
// crash_holder fault restarts it at the instant at: a new session, whose
// random source (jitter) is drawn anew from the run's seed, the process and
// the instant, in the simulator and in conform's runtime alike.
func RestartSeed(sc *Scenario, i int, at time.Duration) uint64 {
	return rand.New(rand.NewPCG(sc.Seed^uint64(at), uint64(i)^restartMix)).Uint64()
}

// restartMix makes the second word of RestartSeed's generator.
const restartMix = 0x2e57a27

// StartRetry is how long a process whose session could not start waits
// before its supervisor starts it again, in the simulator and in conform's
// runtime alike: a process without a token whose family's store was down
// when its session.New read it (New fails then).
const StartRetry = time.Second
