package sim

import (
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Timeline is what a run's picture shows. For one session: the spans of
// each state, every refresh attempt with its outcome and the failed calls.
// For a fleet: the number of sessions in each state, sampled over time.
type Timeline struct {
	Name     string
	Duration time.Duration
	Sessions int
	Faults   []Fault

	// One session (Sessions == 1). Usable holds the stretches during which
	// the session held a usable token (State is Valid in each).
	Spans    []Span
	Usable   []Span
	Attempts []AttemptMark
	Failed   []FailedMark

	// A fleet: Samples[k] counts sessions per state at k×Step.
	Step    time.Duration
	Samples [][numStates]int32

	counts    [numStates]int32
	cur       states.State
	spanStart time.Duration
	tokStart  time.Duration
	nextBin   int64
}

// Span is a stretch of time one session spent in State.
type Span struct {
	From, To time.Duration
	State    states.State
}

// AttemptMark is one refresh attempt: sent, answered, classified.
type AttemptMark struct {
	Sent, Done time.Duration
	Class      policy.Class
}

// FailedMark is a number of application calls that failed at one instant.
type FailedMark struct {
	At time.Duration
	N  int64
}

// timelineBins is the fleet picture's horizontal resolution.
const timelineBins = 400

func newTimeline(sc *Scenario) *Timeline {
	tl := &Timeline{Name: sc.Name, Duration: sc.Duration, Sessions: sc.Fleet.Sessions, Faults: sc.Server.Faults}
	if tl.Sessions > 1 {
		tl.Step = max(sc.Duration/timelineBins, 1)
	}
	return tl
}

func (tl *Timeline) fleet() bool { return tl.Sessions > 1 }

// sampleUpTo records the fleet's state counts for every bin before t.
func (tl *Timeline) sampleUpTo(t int64) {
	if !tl.fleet() {
		return
	}
	for ; tl.nextBin*int64(tl.Step) <= t && len(tl.Samples) <= timelineBins; tl.nextBin++ {
		tl.Samples = append(tl.Samples, tl.counts)
	}
}

func (tl *Timeline) transition(i uint32, tr states.Transition, t int64) {
	tl.counts[tr.From]--
	tl.counts[tr.To]++
	if tl.fleet() || i != 0 {
		return
	}
	if at := time.Duration(t); at > tl.spanStart {
		tl.Spans = append(tl.Spans, Span{tl.spanStart, at, tr.From})
		tl.spanStart = at
	}
	tl.cur = tr.To
}

// token records that session 0's token, usable until end, was replaced at t.
func (tl *Timeline) token(end, t int64) {
	if e := time.Duration(min(end, t)); e > tl.tokStart {
		tl.Usable = append(tl.Usable, Span{tl.tokStart, e, states.Valid})
	}
	tl.tokStart = time.Duration(t)
}

func (tl *Timeline) attempt(i uint32, sent, done int64, c policy.Class) {
	if !tl.fleet() && i == 0 {
		tl.Attempts = append(tl.Attempts, AttemptMark{time.Duration(sent), time.Duration(done), c})
	}
}

func (tl *Timeline) failed(i uint32, t int64, n int64) {
	at := time.Duration(t)
	if tl.fleet() {
		at = at / tl.Step * tl.Step // one mark per sample bin
	}
	if k := len(tl.Failed) - 1; k >= 0 && tl.Failed[k].At == at {
		tl.Failed[k].N += n
		return
	}
	tl.Failed = append(tl.Failed, FailedMark{at, n})
}

func (tl *Timeline) finish(r *run) {
	if tl.fleet() {
		tl.sampleUpTo(r.end)
		return
	}
	if tl.spanStart < tl.Duration {
		tl.Spans = append(tl.Spans, Span{tl.spanStart, tl.Duration, tl.cur})
	}
	if len(r.ss) > 0 {
		tl.token(r.sess(0).usableEnd, r.end)
	}
}
