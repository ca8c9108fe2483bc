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
	// A hostile file: a year, a call every millisecond, a million
	// sessions. Its calls are counted, not simulated, but its refreshes
	// alone are 8.8 billion, far more than DefaultMaxEvents; through the
	// runtime every call would be.
	sc := mustParse(t, `{name: h, duration: 8760h, token: {ttl: 1h}, workload: [{kind: requests, every: 1ms}], fleet: {sessions: 1000000}}`)
	if e := Estimate(sc); e < 1e10 || e > 1e11 {
		t.Errorf("estimate %d for 8.8e9 refreshes", e)
	}
	if e := EstimatePerCall(sc); e < 3e16 {
		t.Errorf("estimate per call %d for 3.15e16 calls", e)
	}
}

// TestEstimateCallRate: the rate of a workload's calls, counted in closed
// form, does not change the estimate much, and a million sessions through
// a day with a call a second and two outages (BenchmarkMillionDaySecond)
// fit in DefaultMaxEvents.
func TestEstimateCallRate(t *testing.T) {
	day := func(every string) *Scenario {
		return mustParse(t, `{name: d, duration: 24h, token: {ttl: 1h}, workload: [{kind: requests, every: `+every+`}],
			server: {faults: [{from: 6h20m, to: 6h40m, kind: status, status: 503}, {from: 18h15m, to: 18h25m, kind: hang}]},
			fleet: {sessions: 1000000, start_spread: 5m}}`)
	}
	second, minute := Estimate(day("1s")), Estimate(day("1m"))
	t.Logf("estimates: %d (a call a second), %d (a minute)", second, minute)
	if second > DefaultMaxEvents || float64(second) > 1.2*float64(minute) {
		t.Errorf("a call a second: estimate %d, a call a minute %d; want at most %d", second, minute, DefaultMaxEvents)
	}
	if pc := EstimatePerCall(day("1s")); pc < 86_000_000_000 {
		t.Errorf("estimate per call %d for 86.4e9 calls", pc)
	}
}
