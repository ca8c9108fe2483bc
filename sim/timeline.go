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

	// Log reports a timeline read from a log (LogTimeline), which has no
	// usable stretches, failed calls or faults to draw.
	Log bool

	counts    [numStates]int32
	cur       states.State
	spanStart time.Duration
	tokStart  time.Duration
	nextBin   int64

	// Beyond timelineDetail elements in one of its lists, a one-session
	// picture is coarse: every element is widened to whole bins of width
	// bin and merged with the previous one of its kind (state, class) when
	// they meet, so a list holds at most a few elements per bin.
	coarse     bool
	bin        time.Duration
	lastSpan   [numStates]int // index in Spans of each state's last span, or -1
	lastUsable int
	lastTry    [numClasses]int // index in Attempts of each class's last mark, or -1
}

// The one-session picture's bounds: up to timelineDetail elements per list
// it shows every one as it is; beyond, it merges them into timelineFine
// bins, two per pixel of the plot (tlRight-tlLeft), so that its size and
// the memory it takes stay bounded however long and busy the run.
const (
	timelineDetail = 4096
	timelineFine   = 1660
	numClasses     = 4
)

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
		tl.addSpan(Span{tl.spanStart, at, tr.From})
		tl.spanStart = at
	}
	tl.cur = tr.To
}

// token records that session 0's token, usable until end, was replaced at t.
func (tl *Timeline) token(end, t int64) {
	if e := time.Duration(min(end, t)); e > tl.tokStart {
		tl.addUsable(Span{tl.tokStart, e, states.Valid})
	}
	tl.tokStart = time.Duration(t)
}

func (tl *Timeline) attempt(i uint32, sent, done int64, c policy.Class) {
	if !tl.fleet() && i == 0 {
		tl.addAttempt(AttemptMark{time.Duration(sent), time.Duration(done), c})
	}
}

func (tl *Timeline) failed(i uint32, t int64, n int64) {
	at := time.Duration(t)
	switch {
	case tl.fleet():
		at = at / tl.Step * tl.Step // one mark per sample bin
	case tl.coarse:
		at = at / tl.bin * tl.bin
	}
	if k := len(tl.Failed) - 1; k >= 0 && tl.Failed[k].At == at {
		tl.Failed[k].N += n
		return
	}
	tl.Failed = append(tl.Failed, FailedMark{at, n})
	if !tl.fleet() && len(tl.Failed) > timelineDetail {
		tl.coarsen()
	}
}

func (tl *Timeline) addSpan(sp Span) {
	if !tl.coarse {
		tl.Spans = append(tl.Spans, sp)
		if len(tl.Spans) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	sp.From, sp.To = tl.binned(sp.From, sp.To)
	if k := tl.lastSpan[sp.State]; k >= 0 && tl.Spans[k].To >= sp.From {
		tl.Spans[k].To = max(tl.Spans[k].To, sp.To)
		return
	}
	tl.lastSpan[sp.State] = len(tl.Spans)
	tl.Spans = append(tl.Spans, sp)
}

func (tl *Timeline) addUsable(sp Span) {
	if !tl.coarse {
		tl.Usable = append(tl.Usable, sp)
		if len(tl.Usable) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	sp.From, sp.To = tl.binned(sp.From, sp.To)
	if k := tl.lastUsable; k >= 0 && tl.Usable[k].To >= sp.From {
		tl.Usable[k].To = max(tl.Usable[k].To, sp.To)
		return
	}
	tl.lastUsable = len(tl.Usable)
	tl.Usable = append(tl.Usable, sp)
}

func (tl *Timeline) addAttempt(a AttemptMark) {
	if !tl.coarse {
		tl.Attempts = append(tl.Attempts, a)
		if len(tl.Attempts) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	a.Sent, a.Done = tl.binned(a.Sent, a.Done)
	if k := tl.lastTry[a.Class]; k >= 0 && tl.Attempts[k].Sent == a.Sent {
		tl.Attempts[k].Done = max(tl.Attempts[k].Done, a.Done)
		return
	}
	tl.lastTry[a.Class] = len(tl.Attempts)
	tl.Attempts = append(tl.Attempts, a)
}

// binned widens [from, to) to whole bins.
func (tl *Timeline) binned(from, to time.Duration) (time.Duration, time.Duration) {
	from = from / tl.bin * tl.bin
	to = (to + tl.bin - 1) / tl.bin * tl.bin
	return from, max(to, from+tl.bin)
}

// coarsen makes the one-session picture coarse and merges what it holds.
func (tl *Timeline) coarsen() {
	if tl.coarse {
		return
	}
	tl.coarse, tl.bin = true, max(tl.Duration/timelineFine, 1)
	tl.lastUsable = -1
	for k := range tl.lastSpan {
		tl.lastSpan[k] = -1
	}
	for k := range tl.lastTry {
		tl.lastTry[k] = -1
	}
	spans, usable, attempts, failed := tl.Spans, tl.Usable, tl.Attempts, tl.Failed
	tl.Spans, tl.Usable, tl.Attempts, tl.Failed = nil, nil, nil, nil
	for _, sp := range spans {
		tl.addSpan(sp)
	}
	for _, sp := range usable {
		tl.addUsable(sp)
	}
	for _, a := range attempts {
		tl.addAttempt(a)
	}
	for _, f := range failed {
		at := f.At / tl.bin * tl.bin
		if k := len(tl.Failed) - 1; k >= 0 && tl.Failed[k].At == at {
			tl.Failed[k].N += f.N
			continue
		}
		tl.Failed = append(tl.Failed, FailedMark{at, f.N})
	}
}

func (tl *Timeline) finish(r *run) {
	if tl.fleet() {
		tl.sampleUpTo(r.end)
		return
	}
	if tl.spanStart < tl.Duration {
		tl.addSpan(Span{tl.spanStart, tl.Duration, tl.cur})
	}
	if len(r.ss) > 0 {
		tl.token(r.sess(0).usableEnd, r.end)
	}
}
