package sim

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authfsm/authfsm/policy"
)

// Comparison is one scenario run under each built-in policy and, when the
// scenario has a shared throttle, under each policy with and without it.
type Comparison struct {
	Name     string
	Seed     uint64
	Sessions int
	Duration time.Duration
	// Throttle is the scenario's throttle; when its kind is not none, each
	// policy has two rows, the first with the throttle, the second without.
	Throttle policy.ThrottleSpec
	Rows     []CompareRow
}

// Throttled reports whether the comparison sets the scenario's throttle
// against its absence.
func (c *Comparison) Throttled() bool { return c.Throttle.Kind == policy.ThrottleAdaptive }

// CompareRow is the outcome under one policy (and throttle).
type CompareRow struct {
	Policy string
	Spec   policy.Spec
	// Throttle is the throttle the row ran with: the scenario's, or kind
	// none (the zero value).
	Throttle policy.ThrottleSpec
	// FailedRequests and RefreshRequests are the result's stats.
	FailedRequests, RefreshRequests int64
	// WorstRecovery is the longest recovery after a fault window; Never
	// reports that some session never recovered.
	WorstRecovery time.Duration
	Never         bool
	// Unusable is the time without a usable token, summed over sessions.
	Unusable Total
	// Passed reports whether the scenario's expectations held.
	Passed bool
}

// comparePolicies returns the built-in policies compare runs, derived from
// base (its initial delay, multiplier, max and limits): none, constant,
// then exponential with each jitter mode.
func comparePolicies(base policy.Spec) []policy.Spec {
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
// rows differ only by policy. When sc has a shared throttle, each policy
// runs twice: with the throttle, then without it. Of opts, only Progress
// applies: it hears of each run, numbered.
func Compare(sc *Scenario, opts ...Options) *Comparison {
	c := &Comparison{Name: sc.Name, Seed: sc.Seed, Sessions: sc.Fleet.Sessions, Duration: sc.Duration, Throttle: sc.Session.Throttle}
	throttles := []policy.ThrottleSpec{sc.Session.Throttle}
	if c.Throttled() {
		throttles = append(throttles, policy.ThrottleSpec{})
	}
	specs := comparePolicies(sc.Session.Policy)
	runs := len(specs) * len(throttles)
	for _, spec := range specs {
		for _, th := range throttles {
			v := *sc
			v.Session.Policy, v.Session.Throttle = spec, th
			var opt Options
			if len(opts) > 0 && opts[0].Progress != nil {
				report, k := opts[0].Progress, len(c.Rows)+1
				opt.Progress = func(p Progress) {
					p.Run, p.Runs = k, runs
					report(p)
				}
			}
			res := Run(&v, opt)
			worst, never := worstRecovery(res.Recoveries)
			c.Rows = append(c.Rows, CompareRow{
				Policy: describePolicy(spec), Spec: spec, Throttle: th,
				FailedRequests: res.Stats.FailedRequests, RefreshRequests: res.Stats.RefreshRequests,
				WorstRecovery: worst, Never: never, Unusable: res.Unusable, Passed: res.Passed,
			})
		}
	}
	return c
}

// Text writes the comparison as a table. With a throttle, a throttle
// column follows the policy. Its columns line up however long a policy's
// name: each is as wide as its widest cell, counted in runes (a policy's
// "×" is one column on a terminal), names left-aligned, numbers right.
func (c *Comparison) Text(w io.Writer) {
	without := "without a token"
	if c.Sessions > 1 {
		without += " (sum)" // over the sessions
	}
	header := []string{"policy", "failed calls", "token requests", "worst recovery", without, "expectations"}
	left := []bool{true, false, false, false, false, true}
	if c.Throttled() {
		fmt.Fprintf(w, "%s: seed %d, %s, %v simulated, under each built-in policy, with the throttle (%s) and without\n",
			c.Name, c.Seed, plural(c.Sessions, "session"), c.Duration, describeThrottle(c.Throttle))
		header = slices.Insert(header, 1, "throttle")
		left = slices.Insert(left, 1, true)
	} else {
		fmt.Fprintf(w, "%s: seed %d, %s, %v simulated, under each built-in policy\n", c.Name, c.Seed, plural(c.Sessions, "session"), c.Duration)
	}
	rows := [][]string{header}
	for _, r := range c.Rows {
		ok := "pass"
		if !r.Passed {
			ok = "FAIL"
		}
		row := []string{r.Policy, strconv.FormatInt(r.FailedRequests, 10), strconv.FormatInt(r.RefreshRequests, 10),
			r.recovery(), r.Unusable.Round(time.Millisecond).String(), ok}
		if c.Throttled() {
			row = slices.Insert(row, 1, r.throttleKind())
		}
		rows = append(rows, row)
	}
	writeTable(w, rows, left)
}

// writeTable writes rows as columns two spaces apart, each as wide as its
// widest cell in runes: left-aligned where left says so, else
// right-aligned. A line ends with its last cell, without padding.
func writeTable(w io.Writer, rows [][]string, left []bool) {
	width := make([]int, len(left))
	for _, row := range rows {
		for k, cell := range row {
			width[k] = max(width[k], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for k, cell := range row {
			pad := strings.Repeat(" ", width[k]-utf8.RuneCountInString(cell))
			if k > 0 {
				b.WriteString("  ")
			}
			switch {
			case !left[k]:
				b.WriteString(pad + cell)
			case k == len(row)-1:
				b.WriteString(cell)
			default:
				b.WriteString(cell + pad)
			}
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
	}
}

// throttleKind names the row's throttle kind: "adaptive" or "none".
func (r CompareRow) throttleKind() string {
	if r.Throttle.Kind == policy.ThrottleAdaptive {
		return r.Throttle.Kind
	}
	return policy.ThrottleNone
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
		{"failed calls (application calls without a usable token, or answered 401)", func(r CompareRow) float64 { return float64(r.FailedRequests) },
			func(r CompareRow) string { return fmt.Sprint(r.FailedRequests) }},
		{"token requests (every attempt sent to the token endpoint)", func(r CompareRow) float64 { return float64(r.RefreshRequests) },
			func(r CompareRow) string { return fmt.Sprint(r.RefreshRequests) }},
		{"worst recovery after a fault window (time)", func(r CompareRow) float64 {
			if r.Never {
				return float64(c.Duration)
			}
			return float64(r.WorstRecovery)
		}, func(r CompareRow) string { return r.recovery() }},
		{"time without a usable token (summed over sessions)", func(r CompareRow) float64 { return r.Unusable.Hours() },
			func(r CompareRow) string { return shortDuration(r.Unusable.Round(time.Second)) }},
	}
	const (
		panelW, labelW, barH, gap = 610.0, 300.0, 18.0, 4.0
	)
	panelH := 48 + float64(len(c.Rows))*(barH+gap)
	top := 62.0
	var s svg
	title := fmt.Sprintf("%s: the same scenario (seed %d) under each built-in policy", c.Name, c.Seed)
	if c.Throttled() {
		// Each policy's pair of bars: dark with the throttle, light without.
		top = 84
		title = fmt.Sprintf("%s: the same scenario (seed %d) under each built-in policy, with and without the throttle", c.Name, c.Seed)
	}
	s.open(1240, int(top+2*panelH+10))
	s.text(10, 22, "start", "#111111", title)
	// The legend of the colours, whatever the scenario.
	ly := 34.0
	if c.Throttled() {
		ly = 56
	}
	s.rect(10, ly, 12, 12, "#2196f3", 1)
	s.text(26, ly+10, "start", "#333333", "the scenario's expectations hold")
	s.rect(260, ly, 12, 12, "#e53935", 1)
	s.text(276, ly+10, "start", "#333333", "they fail (or a session never recovered)")
	room := 95.0 // right of the longest bar, for its label
	if c.Throttled() {
		room = 110
		s.rect(10, 34, 12, 12, "#2196f3", 1)
		s.rect(24, 34, 12, 12, "#e53935", 1)
		s.text(40, 44, "start", "#333333", "with the throttle ("+describeThrottle(c.Throttle)+")")
		s.rect(420, 34, 12, 12, "#90caf9", 1)
		s.rect(434, 34, 12, 12, "#ef9a9a", 1)
		s.text(450, 44, "start", "#333333", "without it")
	}
	for k, m := range measures {
		x0, y0 := 10+float64(k%2)*panelW, top+float64(k/2)*panelH
		s.text(x0, y0+14, "start", "#111111", m.title)
		var top float64
		largest := "0"
		for _, r := range c.Rows {
			if v := m.value(r); v > top {
				top, largest = v, m.label(r)
			}
		}
		// The value axis: a scale from 0 to the largest value, named.
		axisY := y0 + 22 + float64(len(c.Rows))*(barH+gap) + 2
		s.line(x0+labelW, axisY, x0+panelW-room, axisY, "#999999", 1, false)
		for _, at := range []float64{x0 + labelW, x0 + panelW - room} {
			s.line(at, axisY, at, axisY+4, "#999999", 1, false)
		}
		s.text(x0+labelW, axisY+15, "middle", "#666666", "0")
		s.text(x0+panelW-room, axisY+15, "middle", "#666666", largest)
		for i, r := range c.Rows {
			y := y0 + 22 + float64(i)*(barH+gap)
			without := c.Throttled() && r.Throttle.Kind != policy.ThrottleAdaptive
			if !without {
				s.text(x0+labelW-6, y+13, "end", "#333333", shortPolicy(r.Spec))
			}
			w := 0.0
			if top > 0 {
				w = (panelW - labelW - room) * m.value(r) / top
			}
			fill := "#2196f3"
			switch {
			case (r.Never || !r.Passed) && without:
				fill = "#ef9a9a"
			case r.Never || !r.Passed:
				fill = "#e53935"
			case without:
				fill = "#90caf9"
			}
			s.rect(x0+labelW, y, w, barH, fill, 1)
			s.text(x0+labelW+w+4, y+13, "start", "#333333", m.label(r))
		}
	}
	return s.close()
}

// shortPolicy names a policy in a few words, for the picture's labels:
// "none (one attempt a cycle)", "constant 1s, no jitter", "exponential
// 1s×2 ≤1m, full jitter".
func shortPolicy(p policy.Spec) string {
	jitter := p.Jitter.String() + " jitter"
	if p.Jitter == policy.NoJitter {
		jitter = "no jitter"
	}
	switch p.Kind {
	case "none":
		return "none (one attempt a cycle)"
	case "constant":
		return "constant " + shortDuration(p.Initial) + ", " + jitter
	}
	ceiling := "no max"
	if p.Max > 0 {
		ceiling = "≤" + shortDuration(p.Max)
	}
	return fmt.Sprintf("exponential %s×%v %s, %s", shortDuration(p.Initial), p.Multiplier, ceiling, jitter)
}

// plural returns "1 session" or "1000 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
