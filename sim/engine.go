package sim

import (
	"math/rand/v2"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// epoch is the server's wall-clock reading at the start of every run. Only
// differences matter; a fixed value keeps runs reproducible.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Options select what a run records besides its result.
type Options struct {
	// Trace records every transition in Result.Trace.
	Trace bool
	// Timeline records what the SVG timeline draws (Result.Timeline).
	Timeline bool
}

// run is one simulation in progress: the queue, the sessions and the
// server model. It runs on one goroutine and reads no wall clock.
type run struct {
	sc      *Scenario
	opt     Options
	m       *states.Machine
	answers []answer
	q       queue
	ss      []session
	fams    []family
	// stores holds each family's shared store (share: store), else nil.
	stores []store
	// retired holds, per family, when its last ringK refresh tokens were
	// issued (reuse_grace with rotation), else nil.
	retired []int64
	ringK   uint32
	// holders numbers process incarnations (session.holder).
	holders uint32
	// kinds has bit k set when a fault of kind k is in the schedule.
	kinds uint32
	// causes holds the causes built when the fallback grant is involved.
	causes map[causeKey]string
	// pendTok and pendIssued describe the access token of the pair being
	// fed to a machine, read by the transition bookkeeping.
	pendTok    uint32
	pendIssued int64

	// Durations in virtual nanoseconds, read on the hot path.
	end, skew, ttl, latency, timeout, wait, refreshTTL, grace int64
	// The shared store's round trip and lease.
	slat, lease int64

	// capBucket is the second whose token requests capCount counts.
	capBucket, capCount int64

	// thr is the throttle shared by every session (session.throttle), nil
	// for kind none; thrRand draws its random numbers; throttled counts the
	// attempts it kept from being sent.
	thr       *policy.Throttle
	thrRand   *rand.Rand
	throttled int64

	stats    Stats
	timeIn   [numStates]int64
	entered  [numStates]bool
	unusable int64 // summed time without a usable token
	rec      recoveries
	trace    []TraceEntry
	story    story // session 0's first and last transitions, for the text report
	tl       *Timeline
	inv      invariants
	// code is the outcome code of the result being delivered, read by the
	// transition bookkeeping.
	code uint32
}

const numStates = 6

// Run simulates sc and returns its result. It is deterministic: the same
// scenario (seed included) and options give the same result.
func Run(sc *Scenario, opt Options) *Result {
	r := newRun(sc, opt)
	r.loop()
	return r.finish()
}

func newRun(sc *Scenario, opt Options) *run {
	pol, err := sc.Session.Policy.Build()
	if err != nil {
		// Parse validated the spec; a caller that edited it afterwards
		// gets the default policy rather than a panic.
		pol = nil
	}
	r := &run{
		sc:  sc,
		opt: opt,
		m: states.NewMachine(states.Config{
			Policy: pol, RefreshAhead: sc.Session.RefreshAhead,
			ReuseGrace: sc.Token.ReuseGrace, Fallback: sc.Session.Fallback,
		}),
		answers:    answers(sc),
		end:        int64(sc.Duration),
		skew:       int64(sc.ClockSkew),
		ttl:        int64(sc.Token.TTL),
		latency:    int64(sc.Server.Latency),
		timeout:    int64(sc.Session.RequestTimeout),
		wait:       int64(sc.Session.WaitForRefresh),
		refreshTTL: int64(sc.Token.RefreshTTL),
		grace:      int64(sc.Token.ReuseGrace),
		slat:       int64(sc.Share.Latency),
		lease:      int64(sc.Share.Lease),
		capBucket:  -1,
		causes:     map[causeKey]string{},
	}
	n := sc.Fleet.Sessions
	r.ss = make([]session, n)
	nf := n
	if f := sc.Fleet.Families; f > 0 {
		nf = min(f, n)
		if sc.Share.Kind == ShareStore {
			r.stores = make([]store, nf)
		}
	}
	r.fams = make([]family, nf)
	r.initRetired()
	for _, f := range sc.Server.Faults {
		r.kinds |= 1 << f.Kind
	}
	if sc.Session.Throttle.Kind == policy.ThrottleAdaptive {
		if t, err := sc.Session.Throttle.Build(); err == nil {
			// Its own stream of the run's seed, so that the sessions'
			// draws are those of the same run without a throttle.
			r.thr, r.thrRand = t, rand.New(rand.NewPCG(sc.Seed, 0x7e57))
		}
	}
	r.q.ev = make([]event, 0, 2*n+len(sc.Server.Faults)+16)
	r.rec.init(sc)
	if opt.Timeline {
		r.tl = newTimeline(sc)
	}
	// One generator, seeded by the scenario, decides every random choice:
	// the start of each session and (through derived seeds) its jitter.
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5eed))
	for i := range r.ss {
		seed := rng.Uint64()
		var start int64
		if sc.Fleet.StartSpread > 0 {
			start = rng.Int64N(int64(sc.Fleet.StartSpread))
		}
		r.ss[i].start = start
		r.ss[i].d.Rand.Seed(seed, seed^0x9e3779b97f4a7c15)
		if start == 0 {
			r.begin(uint32(i), 0)
		} else {
			r.q.push(start, evStart, uint32(i), 0)
		}
	}
	for i, f := range sc.Server.Faults {
		switch {
		case f.Kind == FaultRejectAccess && f.Instant:
			r.q.push(int64(f.From), evRejectAccess, uint32(i), 0)
		case !f.Instant:
			r.q.push(int64(f.To), evFaultEnd, uint32(i), 0)
		}
	}
	return r
}

// clock is the client's clock at virtual instant t.
func (r *run) clock(t int64) time.Time { return epoch.Add(time.Duration(t + r.skew)) }

// virtual converts a client-clock instant to virtual time.
func (r *run) virtual(c time.Time) int64 { return int64(c.Sub(epoch)) - r.skew }

// loop pops events in (time, sequence) order until the run's end.
func (r *run) loop() {
	for r.q.len() > 0 && r.q.peek().at < r.end {
		e := r.q.pop()
		if r.tl != nil {
			r.tl.sampleUpTo(e.at)
		}
		r.stats.events++
		switch e.kind() {
		case evStart:
			r.begin(e.sess, e.at)
		case evWake:
			s := &r.ss[e.sess]
			if s.wakeAt == e.at {
				s.wakeAt = -1
				r.step(e.sess, s, states.Input{Kind: states.InWake}, e.at)
			}
		case evResult:
			r.deliver(e.sess, e.aux, e.at)
		case evCall:
			r.periodicCall(e.sess, uint32(e.aux), e.at)
		case evBurst:
			r.call(e.sess, int64(r.sc.Workload[e.aux].Count), e.at)
		case evWaitTimeout:
			r.waitTimeout(e.sess, e.aux, e.at)
		case evFaultEnd:
			r.rec.faultEnd(r, int(e.sess), e.at)
		case evRejectAccess:
			r.rejectAccess()
		case evStore:
			r.atStore(e.sess, e.aux, e.at)
		case evStoreOp:
			r.atStoreOp(e.sess, e.aux, e.at)
		case evAdopt:
			r.woken(e.sess, e.at)
		case evRestart:
			r.restart(e.sess, e.at)
		}
	}
}
