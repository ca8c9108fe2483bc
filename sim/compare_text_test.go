package sim

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authfsm/authfsm/policy"
)

// comparison returns a comparison whose policies have names of every
// length, "×" (two bytes, one column) and the limits included.
func comparison(throttled bool) *Comparison {
	c := &Comparison{Name: "long-names", Seed: 3, Sessions: 2, Duration: 2 * time.Hour}
	if throttled {
		c.Throttle = policy.ThrottleSpec{Kind: policy.ThrottleAdaptive, K: 2, Window: 2 * time.Minute, Probe: 30 * time.Second}
	}
	long := policy.Spec{Kind: "exponential", Initial: time.Second, Multiplier: 2, Max: time.Minute,
		Jitter: policy.DecorrelatedJitter, MaxAttempts: 12, MaxElapsed: 90 * time.Minute}
	for k, spec := range []policy.Spec{{Kind: "none"}, long.WithKind("constant"), long} {
		row := CompareRow{Policy: describePolicy(spec), Spec: spec, FailedRequests: int64(7 * k * k * k), RefreshRequests: int64(1234567 * k),
			WorstRecovery: time.Duration(k) * 61 * time.Second, Never: k == 0, Passed: k != 1}
		row.Unusable.add(int64(k) * int64(400*time.Hour))
		if throttled {
			with := row
			with.Throttle = c.Throttle // first with the throttle, then without, as Compare runs them
			c.Rows = append(c.Rows, with)
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// TestCompareTextAligned: every column of compare's table lines up, in
// columns of the terminal (runes, not bytes), however long the policy's
// name: the names and throttles start where their heading starts, the
// numbers end where theirs ends.
func TestCompareTextAligned(t *testing.T) {
	for _, throttled := range []bool{false, true} {
		c := comparison(throttled)
		var b bytes.Buffer
		c.Text(&b)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 2+len(c.Rows) {
			t.Fatalf("throttled %t: %d lines:\n%s", throttled, len(lines), b.String())
		}
		headings := []string{"policy", "failed calls", "token requests", "worst recovery", "without a token (sum)", "expectations"}
		left := []bool{true, false, false, false, false, true}
		if throttled {
			headings = append(headings[:1], append([]string{"throttle"}, headings[1:]...)...)
			left = append(left[:1], append([]bool{true}, left[1:]...)...)
		}
		want := columns(t, lines[1], headings, left)
		for i, r := range c.Rows {
			cells := []string{r.Policy, strconv.FormatInt(r.FailedRequests, 10), strconv.FormatInt(r.RefreshRequests, 10),
				r.recovery(), r.Unusable.Round(time.Millisecond).String(), map[bool]string{true: "pass", false: "FAIL"}[r.Passed]}
			if throttled {
				cells = append(cells[:1], append([]string{r.throttleKind()}, cells[1:]...)...)
			}
			if got := columns(t, lines[2+i], cells, left); !slicesEqual(got, want) {
				t.Errorf("throttled %t: row %d's columns at %v, the headings' at %v:\n%s", throttled, i, got, want, b.String())
			}
		}
	}
}

// columns finds cells in line, in order, and returns where each is
// aligned, in runes: its start when left, else its end.
func columns(t *testing.T, line string, cells []string, left []bool) []int {
	t.Helper()
	var at []int
	from := 0
	for k, c := range cells {
		i := strings.Index(line[from:], c)
		if i < 0 {
			t.Fatalf("%q not in %q after byte %d", c, line, from)
		}
		start := utf8.RuneCountInString(line[:from+i])
		if left[k] {
			at = append(at, start)
		} else {
			at = append(at, start+utf8.RuneCountInString(c))
		}
		from += i + len(c)
	}
	return at
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompareTextGolden pins the table of long policy names
// (testdata/golden/compare-long.txt; go test ./sim -update rewrites it).
func TestCompareTextGolden(t *testing.T) {
	var b bytes.Buffer
	comparison(false).Text(&b)
	b.WriteString("\n")
	comparison(true).Text(&b)
	golden(t, "compare-long.txt", b.Bytes())
}

// TestCompareSVGScales: each panel's axis runs from 0 to its largest
// value, which it names (it said "largest").
func TestCompareSVGScales(t *testing.T) {
	c := comparison(false)
	svg := CompareSVG(c)
	for _, want := range []string{">2469134</text>", ">56</text>", ">never</text>", ">800h</text>"} {
		if strings.Count(svg, want) < 2 { // the bar's label and the scale's end
			t.Errorf("the picture does not end a scale at %s", want)
		}
	}
	if strings.Contains(svg, ">largest<") {
		t.Error("a scale ends at the word largest")
	}
}
