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
// from the scenario alone before running it: each session's refreshes, its
// retries within the fault windows paced by its policy, and the calls that
// are events. A periodic entry's calls are counted in closed form while
// they change nothing (chain.go): it costs an event about once per token
// lifetime and a few per fault window, whatever its rate, unless its calls
// are events for another reason (waiting for a token, max_failed_requests
// to watch, a token never plain). It is meant to refuse runs that would
// take hours, not to predict to the event: within a factor of a few of the
// truth for the scenarios the format describes.
func Estimate(sc *Scenario) int64 { return estimate(sc, false) }

// EstimatePerCall is Estimate with every call an event, as the runtime
// makes each: the measure of the work of running sc through real sessions
// (package conform), whose cost grows with the calls.
func EstimatePerCall(sc *Scenario) int64 { return estimate(sc, true) }

func estimate(sc *Scenario, perCall bool) int64 {
	n := float64(sc.Fleet.Sessions)
	dur := float64(sc.Duration)
	life := dur - float64(sc.Fleet.StartSpread)/2 // a session's mean life in the run
	perTry := 2.0                                 // a refresh: the wake-up (or call) that starts it, its answer
	retrying := 1.0                               // the share of a family's processes that retry
	if sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore {
		perTry = 8 // and the store's round trips, the lease's follow-up, an adoption
		retrying = float64(sc.Fleet.Families) / n
	}
	// Refreshes: once per refresh interval; a lifetime below the machine's
	// floor is refreshed at the policy's pace, or at each demand.
	ttl := float64(sc.Token.TTL)
	interval := 0.0 // between refreshes
	if sc.Token.TTL >= states.MinLifetime {
		interval = ttl
		if a := float64(sc.Session.RefreshAhead); a > 0 {
			interval = math.Max(ttl-a, ttl/2)
		}
	}
	// calls are the calls that are events, per session; every is the
	// shortest period of all calls, counted the shortest of those counted
	// in closed form; counting whether some are.
	calls, every, counted := 0.0, math.Inf(1), math.Inf(1)
	for _, w := range sc.Workload {
		switch w.Kind {
		case WorkRequests:
			made := math.Max(float64(w.To-w.From)-float64(sc.Fleet.StartSpread)/2, 0)/float64(w.Every) + 1
			every = math.Min(every, float64(w.Every))
			if perCall || interval == 0 || !closedForm(sc, w.Every) {
				calls += made
				continue
			}
			// The first, and now and then one when its session's next
			// event is a token's end (the fault windows count theirs).
			calls += math.Min(made, 2)
			counted = math.Min(counted, float64(w.Every))
		case WorkBurst:
			calls++
		}
	}
	// Counted calls that fail become events while they wait for a token
	// (and then their time-outs too), or while max_failed_requests watches
	// for the one that goes over.
	failedEvents := sc.Session.WaitForRefresh > 0 || sc.Expect.MaxFailedRequests != nil
	perFailed := 1.0
	if sc.Session.WaitForRefresh > 0 {
		perFailed = 2
	}
	// revokedAt is when sessions may be revoked for good.
	revokedAt := math.Inf(1)
	if sc.Fleet.Families > 0 && sc.Share.Kind != ShareStore && sc.Token.Rotate && sc.Fleet.Sessions > sc.Fleet.Families {
		revokedAt = interval // copies of a rotating refresh token: one is refused at the latest
	}
	per := 1 + calls // its start, its calls
	if interval == 0 {
		per += perTry * retries(sc, life, every)
	} else {
		per += perTry * (life/interval + 1)
	}
	for _, f := range sc.Server.Faults {
		w := float64(f.To - f.From)
		failing := w
		if interval > 0 {
			failing = meanFailing(sc, f, interval)
		}
		// The calls fail once the token has expired.
		callsFailing := math.Max(failing-(ttl-interval), 0)
		switch {
		case f.Kind == FaultRejectAccess && f.Instant:
			per += 1 + perTry // the next call is rejected, and opens a cycle
		case f.Kind == FaultRejectAccess:
			// Every call in the window is rejected, and may open a cycle.
			per += (1 + perTry) * callsIn(w, every)
		case f.Kind == FaultStatus && f.Status >= 400 && f.Status < 500 && f.Status != 408 && f.Status != 429,
			f.Instant, f.Kind == FaultLostResponse && sc.Token.Rotate && sc.Token.ReuseGrace == 0 && !sc.Session.Fallback:
			per += perTry + 1 // a refusal ends the session's refreshes (or a fallback follows)
			if retrying == 1 || f.Instant || w >= float64(states.RefreshSpreadBound(sc.Session.RefreshAhead)+time.Second) {
				// (A process that shares a store and meets a refusal
				// shorter than its family's spread of refresh points
				// adopts the pair another publishes.)
				revokedAt = math.Min(revokedAt, float64(f.From))
			}
		case f.Kind == FaultCrashHolder:
			// A process crashes at each refresh it sends in the window, and
			// comes back after the restart.
			per += (perTry + 2) * math.Min(retries(sc, failing, every), failing/float64(f.Restart)+1)
		default:
			// With a store, the holder of the lease retries, the other
			// processes of its family wait for its pair; Retry-After
			// paces the retries too.
			tries := retries(sc, failing, every)
			if ra := math.Min(float64(f.RetryAfter), float64(states.DefaultMaxRetryAfter)); ra > 0 {
				tries = math.Min(tries, failing/ra+1)
			}
			per += perTry*tries*retrying + 1
			if sc.Session.WaitForRefresh > 0 {
				per += callsIn(failing, every) // the waiting calls' time-outs
			}
			if failedEvents && callsFailing > 0 {
				per += callsIn(callsFailing, counted) // the counted calls that are events then
			} else if !math.IsInf(counted, 1) {
				per += 2 // a counted call that finds no token, the first after the window
			}
		}
	}
	// One with a login from outside waits in needs_login for the login
	// the workload makes: it is not revoked for good.
	comesBack := false
	for _, w := range sc.Workload {
		comesBack = comesBack || w.Kind == WorkLogin && sc.Fleet.Login == states.LoginOutside
	}
	if failedEvents && revokedAt < dur && !comesBack {
		// The calls of a revoked session fail from then on.
		per += perFailed * callsIn(dur-revokedAt, counted)
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
