package sim

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Comparison is one scenario run under each built-in policy.
type Comparison struct {
	Name     string
	Seed     uint64
	Sessions int
	Duration time.Duration
	Rows     []CompareRow
}

// CompareRow is the outcome under one policy.
type CompareRow struct {
	Policy string
	Spec   policy.Spec
	// FailedRequests and RefreshRequests are the result's stats.
	FailedRequests, RefreshRequests int64
	// WorstRecovery is the longest recovery after a fault window; Never
	// reports that some session never recovered.
	WorstRecovery time.Duration
	Never         bool
	// Unusable is the time without a usable token, summed over sessions.
	Unusable time.Duration
	// Passed reports whether the scenario's expectations held.
	Passed bool
}

// ComparePolicies returns the built-in policies compare runs, derived from
// base (its initial delay, multiplier, max and limits): none, constant,
// then exponential with each jitter mode.
func ComparePolicies(base policy.Spec) []policy.Spec {
	out := []policy.Spec{{Kind: "none"}}
	c := base.WithKind("constant")
	c.Jitter = policy.NoJitter
	out = append(out, c)
	for _, j := range []policy.Jitter{policy.NoJitter, policy.FullJitter, policy.EqualJitter, policy.DecorrelatedJitter} {
		e := base.WithKind("exponential")
		e.Jitter = j
		out = append(out, e)
	}
	return out
}

// Compare runs sc under each of ComparePolicies, with sc's seed, so the
// rows differ only by policy.
func Compare(sc *Scenario) *Comparison {
	c := &Comparison{Name: sc.Name, Seed: sc.Seed, Sessions: sc.Fleet.Sessions, Duration: sc.Duration}
	for _, spec := range ComparePolicies(sc.Session.Policy) {
		v := *sc
		v.Session.Policy = spec
		res := Run(&v, Options{})
		worst, never := WorstRecovery(res.Recoveries)
		c.Rows = append(c.Rows, CompareRow{
			Policy: DescribePolicy(spec), Spec: spec,
			FailedRequests: res.Stats.FailedRequests, RefreshRequests: res.Stats.RefreshRequests,
			WorstRecovery: worst, Never: never, Unusable: res.Unusable, Passed: res.Passed,
		})
	}
	return c
}

// Text writes the comparison as a table.
func (c *Comparison) Text(w io.Writer) {
	fmt.Fprintf(w, "%s: seed %d, %s, %v simulated, under each built-in policy\n", c.Name, c.Seed, plural(c.Sessions, "session"), c.Duration)
	fmt.Fprintf(w, "%-44s %12s %15s %15s %18s  %s\n", "policy", "failed calls", "token requests", "worst recovery", "without a token", "expectations")
	for _, r := range c.Rows {
		ok := "pass"
		if !r.Passed {
			ok = "FAIL"
		}
		fmt.Fprintf(w, "%-44s %12d %15d %15s %18s  %s\n", r.Policy, r.FailedRequests, r.RefreshRequests,
			r.recovery(), r.Unusable.Round(time.Millisecond), ok)
	}
}

func (r CompareRow) recovery() string {
	if r.Never {
		return "never"
	}
	return r.WorstRecovery.Round(time.Millisecond).String()
}

// CompareSVG draws the comparison: one panel per measure, one bar per policy.
func CompareSVG(c *Comparison) string {
	type measure struct {
		title string
		value func(CompareRow) float64
		label func(CompareRow) string
	}
	measures := []measure{
		{"failed calls", func(r CompareRow) float64 { return float64(r.FailedRequests) },
			func(r CompareRow) string { return fmt.Sprint(r.FailedRequests) }},
		{"token requests", func(r CompareRow) float64 { return float64(r.RefreshRequests) },
			func(r CompareRow) string { return fmt.Sprint(r.RefreshRequests) }},
		{"worst recovery after a fault", func(r CompareRow) float64 {
			if r.Never {
				return float64(c.Duration)
			}
			return float64(r.WorstRecovery)
		}, func(r CompareRow) string { return r.recovery() }},
		{"time without a usable token", func(r CompareRow) float64 { return float64(r.Unusable) },
			func(r CompareRow) string { return shortDuration(r.Unusable.Round(time.Second)) }},
	}
	const (
		panelW, labelW, barH, gap = 470.0, 190.0, 18.0, 4.0
	)
	panelH := 30 + float64(len(c.Rows))*(barH+gap)
	var s svg
	s.open(960, int(40+2*panelH+10))
	s.text(10, 22, "start", "#111111", fmt.Sprintf("%s: the same scenario (seed %d) under each built-in policy", c.Name, c.Seed))
	for k, m := range measures {
		x0, y0 := 10+float64(k%2)*panelW, 40+float64(k/2)*panelH
		s.text(x0, y0+14, "start", "#111111", m.title)
		var top float64
		for _, r := range c.Rows {
			top = max(top, m.value(r))
		}
		for i, r := range c.Rows {
			y := y0 + 22 + float64(i)*(barH+gap)
			s.text(x0+labelW-6, y+13, "end", "#333333", shortPolicy(r.Spec))
			w := 0.0
			if top > 0 {
				w = (panelW - labelW - 70) * m.value(r) / top
			}
			fill := "#2196f3"
			if r.Never || !r.Passed {
				fill = "#e53935"
			}
			s.rect(x0+labelW, y, w, barH, fill, 1)
			s.text(x0+labelW+w+4, y+13, "start", "#333333", m.label(r))
		}
	}
	return s.close()
}

// shortPolicy names a policy in a few words, for the picture's labels.
func shortPolicy(p policy.Spec) string {
	switch p.Kind {
	case "none", "constant":
		return p.Kind
	}
	return "exponential, " + p.Jitter.String() + " jitter"
}

// plural returns "1 session" or "1000 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
