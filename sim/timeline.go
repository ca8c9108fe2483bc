package sim

import (
	"slices"
	"sort"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Timeline is what a run's picture shows. For one session: the spans of
// each state, every refresh attempt with its outcome and the failed calls.
// For a fleet: the number of sessions in each state, sampled over time.
type Timeline struct {
	name     string
	duration time.Duration
	sessions int
	faults   []Fault

	// One session (Sessions == 1). Usable holds the stretches during which
	// the session held a usable token (State is Valid in each).
	spans       []span
	usable      []span
	attempts    []attemptMark
	failedCalls []failedMark

	// A fleet: Samples[k] counts sessions per state at k×step.
	step    time.Duration
	samples [][numStates]int32

	// fromLog reports a timeline read from a log (LogTimeline), which has no
	// usable stretches, failed calls or faults to draw.
	fromLog bool

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

// span is a stretch of time one session spent in State.
type span struct {
	From, To time.Duration
	State    states.State
}

// attemptMark is one refresh attempt: sent, answered, classified.
type attemptMark struct {
	Sent, Done time.Duration
	Class      policy.Class
}

// failedMark is a number of application calls that failed at one instant.
type failedMark struct {
	At time.Duration
	N  int64
}

// timelineBins is the fleet picture's horizontal resolution.
const timelineBins = 400

func newTimeline(sc *Scenario) *Timeline {
	tl := &Timeline{name: sc.Name, duration: sc.Duration, sessions: sc.Fleet.Sessions, faults: sc.Server.Faults}
	if tl.sessions > 1 {
		tl.step = max(sc.Duration/timelineBins, 1)
	}
	return tl
}

func (tl *Timeline) fleet() bool { return tl.sessions > 1 }

// sampleUpTo records the fleet's state counts for every bin before t.
func (tl *Timeline) sampleUpTo(t int64) {
	if !tl.fleet() {
		return
	}
	for ; tl.nextBin*int64(tl.step) <= t && len(tl.samples) <= timelineBins; tl.nextBin++ {
		tl.samples = append(tl.samples, tl.counts)
	}
}

func (tl *Timeline) transition(i uint32, tr states.Transition, t int64) {
	tl.counts[tr.From]--
	tl.counts[tr.To]++
	if tl.fleet() || i != 0 {
		return
	}
	if at := time.Duration(t); at > tl.spanStart {
		tl.addSpan(span{tl.spanStart, at, tr.From})
		tl.spanStart = at
	}
	tl.cur = tr.To
}

// token records that session 0's token, usable until end, was replaced at t.
func (tl *Timeline) token(end, t int64) {
	if e := time.Duration(min(end, t)); e > tl.tokStart {
		tl.addUsable(span{tl.tokStart, e, states.Valid})
	}
	tl.tokStart = time.Duration(t)
}

func (tl *Timeline) attempt(i uint32, sent, done int64, c policy.Class) {
	if !tl.fleet() && i == 0 {
		tl.addAttempt(attemptMark{time.Duration(sent), time.Duration(done), c})
	}
}

func (tl *Timeline) failed(i uint32, t int64, n int64) {
	at := time.Duration(t)
	switch {
	case tl.fleet():
		tl.failedBin(at/tl.step, n) // one mark per sample bin
		return
	case tl.coarse:
		at = at / tl.bin * tl.bin
	}
	if k := len(tl.failedCalls) - 1; k >= 0 && tl.failedCalls[k].At == at {
		tl.failedCalls[k].N += n
		return
	}
	tl.failedCalls = append(tl.failedCalls, failedMark{at, n})
	if !tl.fleet() && len(tl.failedCalls) > timelineDetail {
		tl.coarsen()
	}
}

// failedBin adds n failed calls to a fleet's mark of sample bin b. Calls
// counted in closed form (chain.go) come later than those made since, so
// the marks are kept in order by bin rather than appended.
func (tl *Timeline) failedBin(b time.Duration, n int64) {
	at := b * tl.step
	k := sort.Search(len(tl.failedCalls), func(k int) bool { return tl.failedCalls[k].At >= at })
	if k < len(tl.failedCalls) && tl.failedCalls[k].At == at {
		tl.failedCalls[k].N += n
		return
	}
	tl.failedCalls = slices.Insert(tl.failedCalls, k, failedMark{at, n})
}

// failedSpan adds n failed calls, one every every from from, to a fleet's
// marks.
func (tl *Timeline) failedSpan(from, every, n int64) {
	step := int64(tl.step)
	for n > 0 {
		b := from / step
		// The calls in bin b: from, from+every, ... before (b+1)*step.
		k := min(((b+1)*step-from+every-1)/every, n)
		tl.failedBin(time.Duration(b), k)
		from += k * every
		n -= k
	}
}

func (tl *Timeline) addSpan(sp span) {
	if !tl.coarse {
		tl.spans = append(tl.spans, sp)
		if len(tl.spans) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	sp.From, sp.To = tl.binned(sp.From, sp.To)
	if k := tl.lastSpan[sp.State]; k >= 0 && tl.spans[k].To >= sp.From {
		tl.spans[k].To = max(tl.spans[k].To, sp.To)
		return
	}
	tl.lastSpan[sp.State] = len(tl.spans)
	tl.spans = append(tl.spans, sp)
}

func (tl *Timeline) addUsable(sp span) {
	if !tl.coarse {
		tl.usable = append(tl.usable, sp)
		if len(tl.usable) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	sp.From, sp.To = tl.binned(sp.From, sp.To)
	if k := tl.lastUsable; k >= 0 && tl.usable[k].To >= sp.From {
		tl.usable[k].To = max(tl.usable[k].To, sp.To)
		return
	}
	tl.lastUsable = len(tl.usable)
	tl.usable = append(tl.usable, sp)
}

func (tl *Timeline) addAttempt(a attemptMark) {
	if !tl.coarse {
		tl.attempts = append(tl.attempts, a)
		if len(tl.attempts) > timelineDetail {
			tl.coarsen()
		}
		return
	}
	a.Sent, a.Done = tl.binned(a.Sent, a.Done)
	if k := tl.lastTry[a.Class]; k >= 0 && tl.attempts[k].Sent == a.Sent {
		tl.attempts[k].Done = max(tl.attempts[k].Done, a.Done)
		return
	}
	tl.lastTry[a.Class] = len(tl.attempts)
	tl.attempts = append(tl.attempts, a)
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
	tl.coarse, tl.bin = true, max(tl.duration/timelineFine, 1)
	tl.lastUsable = -1
	for k := range tl.lastSpan {
		tl.lastSpan[k] = -1
	}
	for k := range tl.lastTry {
		tl.lastTry[k] = -1
	}
	spans, usable, attempts, failed := tl.spans, tl.usable, tl.attempts, tl.failedCalls
	tl.spans, tl.usable, tl.attempts, tl.failedCalls = nil, nil, nil, nil
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
		if k := len(tl.failedCalls) - 1; k >= 0 && tl.failedCalls[k].At == at {
			tl.failedCalls[k].N += f.N
			continue
		}
		tl.failedCalls = append(tl.failedCalls, failedMark{at, f.N})
	}
}

func (tl *Timeline) finish(r *run) {
	if tl.fleet() {
		tl.sampleUpTo(r.end)
		return
	}
	if tl.spanStart < tl.duration {
		tl.addSpan(span{tl.spanStart, tl.duration, tl.cur})
	}
	if len(r.ss) > 0 {
		tl.token(r.sess(0).usableEnd, r.end)
	}
}
