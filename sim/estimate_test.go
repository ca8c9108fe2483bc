package sim

import (
	"slices"
	"testing"
)

// TestEstimate compares Estimate with the events of real runs: every
// library scenario within a factor of 4 either way, and fuzzed scenarios
// (small fleets, crowded fault schedules) mostly within a factor of 4 and
// never below a third.
func TestEstimate(t *testing.T) {
	ratio := func(sc *Scenario) float64 {
		return float64(Estimate(sc)) / float64(Run(sc, Options{}).Events)
	}
	for _, file := range scenarioFiles(t) {
		sc, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if r := ratio(sc); r < 0.25 || r > 4 {
			t.Errorf("%s: estimate/events = %.2f", sc.Name, r)
		}
	}
	var rs []float64
	for k := range 300 {
		rs = append(rs, ratio(generate(runSeed(3, k))))
	}
	slices.Sort(rs)
	if lo, p90 := rs[0], rs[len(rs)*9/10]; lo < 1.0/3 || p90 > 4 {
		t.Errorf("fuzzed scenarios: estimate/events from %.2f, 90th percentile %.2f", lo, p90)
	}
	// A hostile file: a year, a call every millisecond, a million sessions.
	sc := mustParse(t, `{name: h, duration: 8760h, token: {ttl: 1h}, workload: [{kind: requests, every: 1ms}], fleet: {sessions: 1000000}}`)
	if e := Estimate(sc); e < 3e16 {
		t.Errorf("estimate %d for 3.15e16 calls", e)
	}
}
