// Package policy classifies the outcome of a token refresh and decides when
// to try again.
//
// Classification draws the line the whole library rests on: only an explicit
// refusal from the authorization server is permanent; everything a proxy, a
// network or a restarting backend can produce is transient. Policies are pure
// values: given the attempt that failed (and one random number drawn by the
// caller from its seeded source) they return the next delay, so the runtime
// and the simulator compute the same schedule from the same seed.
package policy

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Attempt describes a failed refresh attempt for a Policy to decide about.
type Attempt struct {
	// N is the number of the attempt that failed in the current cycle, from 1.
	N int
	// Elapsed is the time since the cycle's first attempt started.
	Elapsed time.Duration
	// Prev is the delay the policy returned after the previous attempt of this
	// cycle (0 after the first); decorrelated jitter grows from it.
	Prev time.Duration
	// Rand is a uniformly distributed random number drawn from the session's
	// seeded source, for jitter.
	Rand uint64
}

// A Policy decides how long to wait before the next refresh attempt.
//
// Delay must be a pure function of a: the same Attempt gives the same answer,
// which is what makes a simulation reproducible from its seed. It reports
// false when the policy gives up on the current cycle; giving up never revokes
// a session, the next demand for a token starts a new cycle.
type Policy interface {
	Delay(a Attempt) (time.Duration, bool)
}

// Jitter selects how a delay is randomised, as in the "Exponential Backoff
// And Jitter" formulas (AWS Architecture Blog, 2015).
type Jitter uint8

const (
	// NoJitter uses the computed delay as it is.
	NoJitter Jitter = iota
	// FullJitter draws uniformly from [0, d].
	FullJitter
	// EqualJitter draws uniformly from [d/2, d].
	EqualJitter
	// DecorrelatedJitter draws uniformly from [initial, 3×previous], capped at
	// the maximum.
	DecorrelatedJitter
)

var jitterNames = [...]string{NoJitter: "none", FullJitter: "full", EqualJitter: "equal", DecorrelatedJitter: "decorrelated"}

// String returns the name used in scenario files: none, full, equal, decorrelated.
func (j Jitter) String() string {
	if int(j) < len(jitterNames) {
		return jitterNames[j]
	}
	return fmt.Sprintf("jitter(%d)", uint8(j))
}

// ParseJitter parses a jitter name as String prints it.
func ParseJitter(s string) (Jitter, error) {
	for j, name := range jitterNames {
		if s == name {
			return Jitter(j), nil
		}
	}
	return 0, fmt.Errorf("policy: unknown jitter %q (want none, full, equal or decorrelated)", s)
}

// Limits end a cycle of attempts. A zero field means no limit.
type Limits struct {
	// MaxAttempts is the number of attempts per cycle, the first included.
	MaxAttempts int
	// MaxElapsed bounds the time from the cycle's first attempt to the start
	// of its last one.
	MaxElapsed time.Duration
}

// allow reports whether another attempt after a, delay d from now, is within l.
func (l Limits) allow(a Attempt, d time.Duration) bool {
	if l.MaxAttempts > 0 && a.N >= l.MaxAttempts {
		return false
	}
	if l.MaxElapsed > 0 && a.Elapsed+d > l.MaxElapsed {
		return false
	}
	return true
}

// Exponential waits Initial after the first failure and multiplies the wait
// by Multiplier after each further one, up to Max, then applies Jitter.
type Exponential struct {
	Initial    time.Duration
	Multiplier float64
	Max        time.Duration
	Jitter     Jitter
	Limits
}

// Default returns the policy a session uses when none is configured:
// exponential from 1s, ×2, at most 60s, full jitter, no attempt limit.
func Default() Exponential {
	return Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: FullJitter}
}

// Delay implements Policy.
func (e Exponential) Delay(a Attempt) (time.Duration, bool) {
	var d time.Duration
	if e.Jitter == DecorrelatedJitter {
		d = decorrelated(e.Initial, e.Max, a)
	} else {
		base := float64(e.Initial) * math.Pow(max(e.Multiplier, 1), float64(max(a.N-1, 0)))
		if ceil := float64(e.Max); e.Max > 0 && base > ceil {
			base = ceil
		}
		if base > math.MaxInt64/2 {
			base = math.MaxInt64 / 2
		}
		d = jitter(e.Jitter, time.Duration(base), a.Rand)
	}
	return d, e.allow(a, d)
}

// Constant waits the same Delay after every failure, with optional jitter
// (decorrelated jitter draws from [Delay, 3×Delay]).
type Constant struct {
	Wait   time.Duration
	Jitter Jitter
	Limits
}

// Delay implements Policy.
func (c Constant) Delay(a Attempt) (time.Duration, bool) {
	var d time.Duration
	if c.Jitter == DecorrelatedJitter {
		d = uniform(c.Wait, 3*c.Wait, a.Rand)
	} else {
		d = jitter(c.Jitter, c.Wait, a.Rand)
	}
	return d, c.allow(a, d)
}

// None makes one attempt per cycle: a failure ends the cycle at once, and the
// next demand for a token starts another. It is the naive client, minus the
// mistake of giving up for good.
type None struct{}

// Delay implements Policy; it always gives up.
func (None) Delay(Attempt) (time.Duration, bool) { return 0, false }

func jitter(j Jitter, d time.Duration, r uint64) time.Duration {
	switch j {
	case FullJitter:
		return uniform(0, d, r)
	case EqualJitter:
		return d/2 + uniform(0, d-d/2, r)
	}
	return d
}

func decorrelated(initial, ceil time.Duration, a Attempt) time.Duration {
	hi := 3 * max(a.Prev, initial)
	if ceil > 0 && hi > ceil {
		hi = ceil
	}
	d := uniform(initial, max(hi, initial), a.Rand)
	if ceil > 0 && d > ceil {
		d = ceil
	}
	return d
}

// uniform maps r onto [lo, hi].
func uniform(lo, hi time.Duration, r uint64) time.Duration {
	if hi <= lo {
		return lo
	}
	// Lemire's multiply-shift maps r onto [0, span) without a division.
	off, _ := bits.Mul64(r, uint64(hi-lo)+1)
	return lo + time.Duration(off)
}
