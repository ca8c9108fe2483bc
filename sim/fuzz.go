package sim

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
)

// FuzzConfig configures Fuzz.
type FuzzConfig struct {
	// Runs is the number of random scenarios to try.
	Runs int
	// Seed derives every run's seed; the same seed tries the same scenarios.
	Seed uint64
	// Workers run scenarios in parallel; 0 means GOMAXPROCS. The report
	// does not depend on it.
	Workers int
	// Progress, when set, is called after each run with the number done.
	// It is called from the workers and must be safe for concurrent use.
	Progress func(done int)
}

// FuzzReport is what Fuzz found.
type FuzzReport struct {
	Runs int
	Seed uint64
	// Failure is the first failing run (by run number), or nil.
	Failure *FuzzFailure
}

// FuzzFailure is a run that broke an invariant, with its shrunk form.
type FuzzFailure struct {
	Run int
	// Scenario is the generated scenario that failed; Shrunk is a minimal
	// scenario that still fails, and Result its run.
	Scenario, Shrunk *Scenario
	Result           *Result
	// Why names the broken expectations or invariants.
	Why string
}

// runSeed returns the seed of run k of a fuzz session seeded with seed.
func runSeed(seed uint64, k int) uint64 {
	// splitmix64: consecutive runs get unrelated seeds.
	z := seed + uint64(k+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// determinismEvery is how often a run is repeated to check that it
// reproduces byte for byte.
const determinismEvery = 16

// Fuzz runs cfg.Runs random scenarios (see Generate) and checks each
// against the invariants of docs/DESIGN.md, expressed as the scenario's
// expectations (FuzzExpect) and the checks every run makes. The first
// failing run is shrunk to a minimal scenario that still fails.
func Fuzz(cfg FuzzConfig) FuzzReport {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var next, done atomic.Int64
	var mu sync.Mutex
	first := -1
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				mu.Lock()
				stop := k >= cfg.Runs || first >= 0 && k > first
				mu.Unlock()
				if stop {
					return
				}
				if !fuzzPasses(generate(runSeed(cfg.Seed, k)), k%determinismEvery == 0) {
					mu.Lock()
					if first < 0 || k < first {
						first = k
					}
					mu.Unlock()
				}
				if cfg.Progress != nil {
					cfg.Progress(int(done.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	rep := FuzzReport{Runs: cfg.Runs, Seed: cfg.Seed}
	if first >= 0 {
		sc := generate(runSeed(cfg.Seed, first))
		shrunk := shrink(sc, func(c *Scenario) bool { return !fuzzPasses(c, true) })
		res := Run(shrunk, Options{})
		rep.Runs = first + 1
		rep.Failure = &FuzzFailure{Run: first, Scenario: sc, Shrunk: shrunk, Result: res, Why: why(res)}
	}
	return rep
}

// fuzzPasses runs sc and reports whether it kept every invariant; twice
// reports whether to check that a second run gives the same bytes.
func fuzzPasses(sc *Scenario, twice bool) bool {
	res := Run(sc, Options{Trace: twice})
	if !res.Passed {
		return false
	}
	return !twice || bytes.Equal(res.JSON(), Run(sc, Options{Trace: true}).JSON())
}

// why lists the failed expectations of res.
func why(res *Result) string {
	s := ""
	for _, e := range res.Expectations {
		if !e.OK {
			if s != "" {
				s += "; "
			}
			s += e.Name + ": want " + show(e.Want, true) + ", got " + show(e.Got, false)
		}
	}
	if s == "" {
		s = "the run is not reproducible: two runs gave different results"
	}
	return s
}
