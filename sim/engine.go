package sim

import (
	"math/rand/v2"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// epoch is the server's wall-clock reading at the start of every run. Only
// differences matter; a fixed value keeps runs reproducible.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// epochNano is epoch in Unix nanoseconds.
var epochNano = epoch.UnixNano()

// Options select what a run records besides its result.
type Options struct {
	// Trace records every transition in Result.Trace.
	Trace bool
	// OnTransition, when set, receives every transition as it is made, in
	// order: a trace that streams, in memory that does not grow with the
	// run (Trace keeps them all). Each is the audit record a runtime
	// session writes for it, with the session's index as its name and
	// virtual times: Epoch plus the offset from the start of the run.
	OnTransition func(audit.Record)
	// Progress, when set, is called every progressEvery events with how
	// far the run is, for a long run's progress report.
	Progress func(Progress)
	// Timeline records what the SVG timeline draws (Result.Timeline).
	Timeline bool
	// Session is the session whose first and last transitions the text
	// report shows (Result.Story), and whose rows a fleet's picture draws
	// under the fleet's (Timeline); 0 by default.
	Session int
}

// Progress describes a run under way (Options.Progress).
type Progress struct {
	// At is the simulated time reached, of Duration.
	At, Duration time.Duration
	// Events is the number of events processed so far.
	Events int64
	// Run and Runs number the run under way among several (Compare: one
	// per policy), from 1; both are 0 for a single run.
	Run, Runs int
}

// progressEvery is how many events pass between calls of Options.Progress:
// about a tenth of a second of work.
const progressEvery = 1 << 20

// run is one simulation in progress: the queue, the sessions and the
// server model. It runs on one goroutine and reads no wall clock.
type run struct {
	sc      *Scenario
	opt     Options
	m       *states.Machine
	answers []answer
	q       queue
	ss      []session
	// plainTo holds, per session, the instant until which its application
	// calls are plain: counted, and answered by the resource server with
	// no consequence, so that they need not touch the session (nil with
	// naiveEngine; empty when calls are counted in closed form, each
	// session holding its own). See plainUntil.
	plainTo []int64
	// reqs describes the periodic workload entries; chains holds each
	// session's chain of calls of each but the first (session.c0), by slot
	// (chain.go); cf reports that some are counted in closed form.
	chains []chain
	reqs   []reqEntry
	cf     bool
	// rejectWindows lists the reject_access windows (from/to) by start.
	rejectWindows []Fault
	// pos maps session i to its place in ss, or is nil when that is i (see
	// layout); sess(i) returns session i.
	pos  []uint32
	fams []family
	// stores holds each family's shared store (share: store), else nil.
	stores []store
	// retired holds, per family, when its last ringK refresh tokens were
	// issued (reuse_grace with rotation), else nil.
	retired []int64
	ringK   uint32
	// holders numbers process incarnations (session.holder).
	holders uint32
	// restarts counts the restarts of each process a crash_holder fault
	// restarted (audit.Record.Restarts); nil until the first.
	restarts map[uint32]int32
	// kinds has bit k set when a fault of kind k is in the schedule.
	kinds uint32
	// pendTok and pendIssued describe the access token of the pair being
	// fed to a machine, read by the transition bookkeeping; pendRT is its
	// refresh token, installed when the machine says so (Effects.Install).
	pendRT     uint32
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
	timeIn   [numStates]Total
	entered  [numStates]bool
	unusable Total // summed time without a usable token
	rec      recoveries
	blame    culprits
	trace    []audit.Record
	story    story // Options.Session's first and last transitions, for the text report
	tl       *Timeline
	inv      invariants
	// code is the outcome code of the result being delivered, read by the
	// transition bookkeeping.
	code uint32
	// relayoutDue: a relayout is queued.
	relayoutDue bool
}

const numStates = 8

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
			ReuseGrace: sc.Session.ReuseGrace, Fallback: sc.Session.Fallback,
			SoloWhenStoreDown: sc.Session.SoloWhenStoreDown,
			// The model's fallback grant (client_credentials) authenticates
			// as the same client.
			FallbackSameClient: true,
			// Coordinated implies Shared: the store is read again after a
			// refusal, as the runtime's sessions with a store do.
			Coordinated: sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore,
			Lease:       states.LeaseTTL(sc.Session.Lease, sc.Session.RequestTimeout),
			Login:       sc.Fleet.Login,
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
		// The runtime's lease (session.WithLease).
		lease:     int64(states.LeaseTTL(sc.Session.Lease, sc.Session.RequestTimeout)),
		capBucket: -1,
	}
	n := sc.Fleet.Sessions
	r.ss = make([]session, n)
	adviseHuge(r.ss)
	for _, f := range sc.Server.Faults {
		if f.Kind == FaultRejectAccess && !f.Instant {
			r.rejectWindows = append(r.rejectWindows, f)
		}
	}
	nf := n
	if f := sc.Fleet.Families; f > 0 {
		nf = min(f, n)
		if sc.Share.Kind == ShareStore {
			r.stores = make([]store, nf)
			adviseHuge(r.stores)
		}
	}
	r.fams = make([]family, nf)
	adviseHuge(r.fams)
	r.initRetired()
	for _, f := range sc.Server.Faults {
		r.kinds |= 1 << f.Kind
	}
	if sc.Session.Throttle.Kind == policy.ThrottleAdaptive {
		if t, err := sc.Session.Throttle.Build(); err == nil {
			// Its own stream of the run's seed, so that the sessions'
			// draws are those of the same run without a throttle: the
			// stream of throttle.New(spec, seed).
			r.thr, r.thrRand = t, policy.ThrottleRand(sc.Seed)
		}
	}
	r.q.naive = naiveEngine
	if naiveEngine {
		r.q.init(2*n + len(sc.Server.Faults) + 16)
	} else {
		r.q.init(len(sc.Server.Faults) + 16)
	}
	r.rec.init(sc)
	r.blame.init(&sc.Expect)
	if opt.Timeline {
		r.tl = newTimeline(sc, opt.Session)
	}
	// One generator, seeded by the scenario, decides every random choice:
	// the start of each session and (through derived seeds) its jitter.
	// The draws are made twice, the same: first the starts, for the
	// layout, then into the sessions.
	draw := func(each func(i int, seed uint64, start int64)) {
		EachSession(sc, func(i int, seed uint64, start time.Duration) { each(i, seed, int64(start)) })
	}
	starts := make([]int64, n)
	draw(func(i int, _ uint64, start int64) { starts[i] = start })
	r.initChains(!naiveEngine && !perCallEngine)
	switch {
	case r.cf:
		r.plainTo = []int64{} // each session holds its plain instant
	case !naiveEngine:
		r.plainTo = make([]int64, n)
		adviseHuge(r.plainTo)
	}
	r.layout(starts)
	draw(func(i int, seed uint64, start int64) {
		s := r.sess(uint32(i))
		s.start = start
		s.d = states.NewData(seed, time.Time{}, time.Time{})
	})
	later := 0
	for _, st := range starts {
		if st > 0 {
			later++
		}
	}
	evs := r.q.startBuffer(later)
	for i := range n {
		if starts[i] == 0 {
			r.begin(uint32(i), 0, 0)
		} else {
			evs = append(evs, r.q.stamp(starts[i], evStart, uint32(i), 0))
		}
	}
	r.q.pushAll(evs)
	for i, f := range sc.Server.Faults {
		switch {
		case f.Kind == FaultRejectAccess && f.Instant:
			r.q.push(int64(f.From), evRejectAccess, uint32(i), 0)
		case !f.Instant:
			r.q.push(int64(f.To), evFaultEnd, uint32(i), 0)
		}
	}
	for k, w := range sc.Workload {
		if w.Kind == WorkLogin {
			r.q.push(int64(w.At), evLogin, 0, uint64(k))
		}
	}
	return r
}

// naiveEngine makes runs put every event in the binary heap and take no
// fast path: the engine before lanes, which tests compare results with
// and BenchmarkScale measures against.
var naiveEngine = false

// perCallEngine makes every periodic call an event, as the engine did
// before it counted them in closed form (chain.go): tests compare results
// with it, and benchmarks measure against it.
var perCallEngine = false

// clock is the client's clock at virtual instant t.
func (r *run) clock(t int64) time.Time { return epoch.Add(time.Duration(t + r.skew)) }

// virtual converts a client-clock instant to virtual time.
// The client's instants are epoch plus an offset, with no monotonic
// reading: their difference from epoch is that of their Unix times, which
// is cheaper than Time.Sub and its overflow check (an Add and an Equal).
func (r *run) virtual(c time.Time) int64 { return c.UnixNano() - epochNano - r.skew }

// loop pops events in (time, sequence) order until the run's end.
func (r *run) loop() {
	for {
		e, ok := r.q.next(r.end)
		if !ok {
			break
		}
		r.stats.events++
		if r.stats.events%progressEvery == 0 && r.opt.Progress != nil {
			r.opt.Progress(Progress{At: time.Duration(e.at), Duration: time.Duration(r.end), Events: r.stats.events})
		}
		switch k := e.kind(); {
		case k == evCall:
			r.periodicCall(e.sess, e.aux, e.at)
		case r.cf && (k == evRejectAccess || k == evLogin):
			// The run's events that change every session's calls: the
			// calls they follow are counted first, and each session's
			// next calls are decided again.
			r.settleAll()
			r.handle(&e)
			r.reconsiderAll()
		case !r.cf || k == evFaultEnd || k == evRelayout || k == evStart && !r.sess(e.sess).started:
			r.handle(&e)
		default:
			// An event of session e.sess (a crashed process's start
			// included): the calls it follows are counted first, and it
			// may change how the next go.
			s := r.sess(e.sess)
			r.settle(e.sess, s)
			r.handle(&e)
			r.reconsider(e.sess, s)
		}
	}
}

// handle processes e.
func (r *run) handle(e *event) {
	switch e.kind() {
	case evStart:
		r.begin(e.sess, e.at, e.aux)
	case evWake:
		s := r.sess(e.sess)
		if s.wakeAt == e.at {
			s.wakeAt = -1
			r.step(e.sess, s, states.Input{Kind: states.InWake}, e.at)
		}
	case evResult:
		r.deliver(e.sess, e.aux, e.at)
	case evBurst:
		r.calls(e.sess, r.sess(e.sess).slot, int64(r.sc.Workload[e.aux].Count), e.at)
	case evWaitTimeout:
		r.waitTimeout(e.sess, e.aux, e.at)
	case evFaultEnd:
		r.rec.faultEnd(r, int(e.sess), e.at)
		if r.plainTo != nil && !r.cf && len(r.ss) >= relayoutMin && !r.relayoutDue {
			r.relayoutDue = true // one for windows that end close together
			r.q.push(e.at+int64(relayoutAfter), evRelayout, 0, 0)
		}
	case evRelayout:
		r.relayoutDue = false
		r.relayout(e.at)
	case evStore:
		r.atStore(e.sess, e.aux, e.at)
	case evStoreOp:
		r.atStoreOp(e.sess, e.aux, e.at)
	case evWatch:
		r.watched(e.sess, e.at)
	case evRejectAccess:
		r.rejectAccess()
	case evLogin:
		r.login(e.at)
	}
}
