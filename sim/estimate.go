package sim

import (
	"math"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// DefaultMaxEvents bounds the events a run may need (Estimate) unless the
// caller raises it: about a minute of work on a laptop. BenchmarkSimulate
// measures 20 to 30 million events a second for a fleet's ordinary day,
// and BenchmarkScale 13 to 23 million; a run made of refreshes, failures
// and rejections, which touch their sessions, goes at 2.5 to 5 million
// (BenchmarkMillionDay: 400 million events in about 150 s).
const DefaultMaxEvents = 300_000_000

// CompareEstimate returns about how many events Compare(sc) processes:
// Estimate for each of its runs.
func CompareEstimate(sc *Scenario) int64 {
	runs := int64(len(comparePolicies(sc.Session.Policy)))
	if sc.Session.Throttle.Kind == policy.ThrottleAdaptive {
		runs *= 2 // with the throttle and without
	}
	return satMul(Estimate(sc), runs)
}

// Estimate returns about how many events a run of sc processes, computed
// from the scenario alone before running it: each session's calls,
// refreshes, and retries within the fault windows, paced by its policy.
// It is meant to refuse runs that would take hours, not to predict to the
// event: within a factor of a few of the truth for the scenarios the
// format describes.
func Estimate(sc *Scenario) int64 {
	n := float64(sc.Fleet.Sessions)
	dur := float64(sc.Duration)
	life := dur - float64(sc.Fleet.StartSpread)/2 // a session's mean life in the run
	perTry := 2.0                                 // a refresh: the wake-up (or call) that starts it, its answer
	retrying := 1.0                               // the share of a family's processes that retry
	if sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore {
		perTry = 8 // and the store's round trips, the lease's follow-up, an adoption
		retrying = float64(sc.Fleet.Families) / n
	}
	calls, every := 0.0, math.Inf(1) // per session; the shortest call period
	for _, w := range sc.Workload {
		switch w.Kind {
		case WorkRequests:
			calls += math.Max(float64(w.To-w.From)-float64(sc.Fleet.StartSpread)/2, 0)/float64(w.Every) + 1
			every = math.Min(every, float64(w.Every))
		case WorkBurst:
			calls++
		}
	}
	per := 1 + calls // its start, its calls
	// Refreshes: once per refresh interval; a lifetime below the machine's
	// floor is refreshed at the policy's pace, or at each demand.
	ttl := float64(sc.Token.TTL)
	interval := 0.0 // between refreshes
	if sc.Token.TTL < states.MinLifetime {
		per += perTry * retries(sc, life, every)
	} else {
		interval = ttl
		if a := float64(sc.Session.RefreshAhead); a > 0 {
			interval = math.Max(ttl-a, ttl/2)
		}
		per += perTry * (life/interval + 1)
	}
	for _, f := range sc.Server.Faults {
		w := float64(f.To - f.From)
		failing := w
		if interval > 0 {
			failing = meanFailing(sc, f, interval)
		}
		switch {
		case f.Kind == FaultRejectAccess:
			// Every call in the window is rejected, and may open a cycle.
			per += (1 + perTry) * callsIn(w, every)
		case f.Kind == FaultStatus && f.Status >= 400 && f.Status < 500 && f.Status != 408 && f.Status != 429,
			f.Instant:
			per += perTry + 1 // a refusal ends the session's refreshes (or a fallback follows)
		case f.Kind == FaultCrashHolder:
			// A process crashes at each refresh it sends in the window, and
			// comes back after the restart.
			per += (perTry + 2) * math.Min(retries(sc, failing, every), failing/float64(f.Restart)+1)
		default:
			// With a store, the holder of the lease retries, the other
			// processes of its family wait for its pair.
			per += perTry*retries(sc, failing, every)*retrying + 1
			if sc.Session.WaitForRefresh > 0 {
				per += callsIn(failing, every) // the waiting calls' time-outs
			}
		}
	}
	if total := n * per; total < math.MaxInt64 {
		return int64(total)
	}
	return math.MaxInt64
}

// meanFailing is how long, on average over the fleet's start spread, a
// session fails within the window f: from its first refresh point (one
// every interval from its start) in the window to the window's end.
func meanFailing(sc *Scenario, f Fault, interval float64) float64 {
	samples, spread := 16, float64(sc.Fleet.StartSpread)
	if spread == 0 {
		samples = 1
	}
	from, to, sum := float64(f.From), float64(f.To), 0.0
	for j := range samples {
		start := spread * (float64(j) + 0.5) / float64(samples)
		if spread == 0 {
			start = 0
		}
		// The first refresh point at or after from.
		p := start + interval
		if p < from {
			p += math.Ceil((from-p)/interval) * interval
		}
		if p < to {
			sum += to - p
		}
	}
	return sum / float64(samples)
}

// callsIn is the number of periodic calls of one session in a window w
// long, every being the shortest call period.
func callsIn(w, every float64) float64 {
	if math.IsInf(every, 1) {
		return 0
	}
	return w/every + 1
}

// retries is about how many attempts one session makes through w of
// failures: as fast as its policy's delays allow (half the nominal delay
// with full jitter), once per demand with policy none, and a cycle limited
// by max_attempts is reopened by the next demand.
func retries(sc *Scenario, w, every float64) float64 {
	p := sc.Session.Policy
	demands := callsIn(w, every) + 1
	var paced float64
	switch p.Kind {
	case "none":
		return demands
	case "constant":
		paced = w/math.Max(float64(p.Initial)/2, float64(time.Millisecond)) + 1
	default:
		lo, hi := float64(p.Initial), float64(p.Max)
		if p.Multiplier <= 1 {
			hi = lo
		}
		growth := 0.0
		if p.Multiplier > 1 {
			top := hi
			if top <= 0 {
				top = math.Max(w, lo)
			}
			growth = math.Log(math.Max(top/lo, 1)) / math.Log(p.Multiplier)
		}
		if hi <= 0 {
			paced = growth + 1
		} else {
			paced = growth + w/math.Max(hi/2, float64(time.Millisecond)) + 1
		}
	}
	if p.MaxAttempts > 0 {
		paced = math.Min(paced, float64(p.MaxAttempts)*demands)
	}
	return paced
}

// satMul returns a×b for non-negative a and b, or math.MaxInt64 when the
// product does not fit.
func satMul(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
