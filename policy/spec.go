package policy

import (
	"errors"
	"fmt"
	"time"
)

// Spec is a policy described by name and parameters, the way scenario files
// and command lines describe one. Build turns it into a Policy.
type Spec struct {
	Kind        string // exponential | constant | none
	Initial     time.Duration
	Multiplier  float64
	Max         time.Duration
	Jitter      Jitter
	MaxAttempts int
	MaxElapsed  time.Duration
}

// Kinds lists the built-in policy kinds.
var Kinds = []string{"none", "constant", "exponential"}

// DefaultSpec describes Default.
func DefaultSpec() Spec {
	d := Default()
	return Spec{Kind: "exponential", Initial: d.Initial, Multiplier: d.Multiplier, Max: d.Max, Jitter: d.Jitter}
}

// WithKind returns s as a policy of another kind: the parameters that do
// not apply to kind are dropped, and the delays kind needs but s lacks take
// DefaultSpec's values. A constant policy keeps Initial (its wait), Jitter
// and the limits; an exponential one made from another kind keeps those and
// takes Default's multiplier and max; none keeps nothing.
func (s Spec) WithKind(kind string) Spec {
	d := DefaultSpec()
	out := Spec{Kind: kind}
	switch kind {
	case "constant":
		out.Initial, out.Jitter, out.MaxAttempts, out.MaxElapsed = s.Initial, s.Jitter, s.MaxAttempts, s.MaxElapsed
	case "exponential":
		out = s
		out.Kind = kind
		if s.Kind != kind {
			// From constant or none: the growth and the cap Default has.
			out.Multiplier, out.Max = d.Multiplier, d.Max
		}
	default:
		return out
	}
	if out.Initial == 0 {
		out.Initial = d.Initial
	}
	return out
}

// Build validates s and returns the policy it describes. For a constant
// policy, Initial is the wait. A parameter that the kind does not use (a
// multiplier on a constant policy, any parameter on none) is an error, not
// silently ignored: it says the writer expected a behaviour the policy
// does not have. WithKind drops them.
func (s Spec) Build() (Policy, error) {
	if s.MaxAttempts < 0 {
		return nil, fmt.Errorf("policy: max_attempts %d is negative", s.MaxAttempts)
	}
	if s.MaxElapsed < 0 {
		return nil, fmt.Errorf("policy: max_elapsed %v is negative", s.MaxElapsed)
	}
	if s.Jitter > DecorrelatedJitter {
		return nil, fmt.Errorf("policy: unknown jitter %d", s.Jitter)
	}
	lim := Limits{MaxAttempts: s.MaxAttempts, MaxElapsed: s.MaxElapsed}
	switch s.Kind {
	case "none":
		if s != (Spec{Kind: "none"}) {
			return nil, fmt.Errorf("policy: %s does not apply to policy none (one attempt per cycle, no delays or limits)", s.firstSet())
		}
		return None{}, nil
	case "constant":
		if s.Multiplier != 0 {
			return nil, errors.New("policy: multiplier does not apply to a constant policy")
		}
		if s.Max != 0 {
			return nil, errors.New("policy: max does not apply to a constant policy (initial is its wait)")
		}
		if s.Initial <= 0 {
			return nil, fmt.Errorf("policy: constant policy needs a positive initial delay, got %v", s.Initial)
		}
		return Constant{Wait: s.Initial, Jitter: s.Jitter, Limits: lim}, nil
	case "exponential":
		if s.Initial <= 0 {
			return nil, fmt.Errorf("policy: exponential policy needs a positive initial delay, got %v", s.Initial)
		}
		if s.Multiplier < 1 {
			return nil, fmt.Errorf("policy: multiplier %v is below 1", s.Multiplier)
		}
		if s.Max != 0 && s.Max < s.Initial {
			return nil, fmt.Errorf("policy: max %v is below initial %v", s.Max, s.Initial)
		}
		return Exponential{Initial: s.Initial, Multiplier: s.Multiplier, Max: s.Max, Jitter: s.Jitter, Limits: lim}, nil
	}
	return nil, fmt.Errorf("policy: unknown kind %q (want none, constant or exponential)", s.Kind)
}

// firstSet names the first parameter of s that is set, for errors.
func (s Spec) firstSet() string {
	switch {
	case s.Initial != 0:
		return "initial"
	case s.Multiplier != 0:
		return "multiplier"
	case s.Max != 0:
		return "max"
	case s.Jitter != NoJitter:
		return "jitter"
	case s.MaxAttempts != 0:
		return "max_attempts"
	}
	return "max_elapsed"
}
