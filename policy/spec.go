package policy

import (
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

// Build validates s and returns the policy it describes. For a constant
// policy, Initial is the wait.
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
		return None{}, nil
	case "constant":
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
