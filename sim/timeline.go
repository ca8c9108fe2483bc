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
// For a fleet: the number of sessions in each state over time, the failed
// calls of all of them, and the rows of one session as above
// (Options.Session).
type Timeline struct {
	name     string
	duration time.Duration
	sessions int
	faults   []Fault

	// The session drawn in rows: the only one, or Options.Session of a
	// fleet; started reports that it began (a fleet's may begin late, and a
	// log's fleet draws none). Usable holds the stretches during which it
	// held a usable token (State is Valid in each).
	one         int
	started     bool
	spans       []span
	usable      []span
	attempts    []attemptMark
	failedCalls []failedMark

	// A fleet: shares[k] is the number of sessions in each state averaged
	// over bin k, [k×step, (k+1)×step), and fleetFailed its failed calls,
	// one mark per bin. Sessions not begun yet count in no state.
	step        time.Duration
	shares      [][numStates]float64
	fleetFailed []failedMark
	sampledTo   int64

	// fromLog reports a timeline read from a log (LogTimeline), which has no
	// usable stretches, failed calls or faults to draw.
	fromLog bool

	counts    [numStates]int32
	cur       states.State
	spanStart time.Duration
	tokStart  time.Duration

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
	numClasses     = int(policy.Suspect) + 1
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

// newTimeline returns the model of sc's picture, whose rows draw session
// one (Options.Session; 0 for a run of one session).
func newTimeline(sc *Scenario, one int) *Timeline {
	tl := &Timeline{name: sc.Name, duration: sc.Duration, sessions: sc.Fleet.Sessions, faults: sc.Server.Faults, one: one}
	if tl.sessions > 1 {
		tl.step = max(sc.Duration/timelineBins, 1)
		tl.shares = make([][numStates]float64, tl.bins())
	} else {
		tl.one = 0
	}
	return tl
}

func (tl *Timeline) fleet() bool { return tl.sessions > 1 }

// bins is the number of the fleet's bins: those that start before the end.
func (tl *Timeline) bins() int {
	n := tl.duration / tl.step
	if tl.duration%tl.step != 0 {
		n++
	}
	return int(n)
}

// begin records that session i began at t in state st.
func (tl *Timeline) begin(i uint32, st states.State, t int64) {
	tl.sampleUpTo(t)
	tl.counts[st]++
	if int(i) == tl.one {
		tl.started = true
		tl.cur, tl.spanStart, tl.tokStart = st, time.Duration(t), time.Duration(t)
	}
}

// sampleUpTo adds the fleet's state counts, unchanged since the last call,
// to the bins' averages up to t. It is called where the counts change
// (begin, transition, leave) and at the end, never at other events: the
// sums then split at the same instants however many events the engine
// makes (calls counted in closed form make fewer), so that the averages
// are the same to the last bit.
func (tl *Timeline) sampleUpTo(t int64) {
	if !tl.fleet() {
		return
	}
	t = min(t, int64(tl.duration))
	step, end := int64(tl.step), int64(tl.duration)
	for from := tl.sampledTo; from < t; {
		k := from / step
		to := min(t, (k+1)*step)
		w := float64(to-from) / float64(min((k+1)*step, end)-k*step) // the last bin may be shorter
		for st, n := range tl.counts {
			tl.shares[k][st] += w * float64(n)
		}
		from = to
	}
	tl.sampledTo = max(tl.sampledTo, t)
}

func (tl *Timeline) transition(i uint32, tr states.Transition, t int64) {
	tl.sampleUpTo(t)
	tl.counts[tr.From]--
	tl.counts[tr.To]++
	if int(i) != tl.one {
		return
	}
	if at := time.Duration(t); at > tl.spanStart {
		tl.addSpan(span{tl.spanStart, at, tr.From})
		tl.spanStart = at
	}
	tl.cur = tr.To
}

// leave records that session i's crashed process left st at t, as it
// started again: its new session begins in its first state (begin) with no
// transition.
func (tl *Timeline) leave(i uint32, st states.State, t int64) {
	tl.sampleUpTo(t)
	tl.counts[st]--
	if int(i) != tl.one {
		return
	}
	if at := time.Duration(t); at > tl.spanStart {
		tl.addSpan(span{tl.spanStart, at, st})
		tl.spanStart = at
	}
}

// token records that session i's token, usable until end, was replaced at
// t.
func (tl *Timeline) token(i uint32, end, t int64) {
	if int(i) != tl.one {
		return
	}
	if e := time.Duration(min(end, t)); e > tl.tokStart {
		tl.addUsable(span{tl.tokStart, e, states.Valid})
	}
	tl.tokStart = time.Duration(t)
}

func (tl *Timeline) attempt(i uint32, sent, done int64, c policy.Class) {
	if int(i) == tl.one {
		tl.addAttempt(attemptMark{time.Duration(sent), time.Duration(done), c})
	}
}

func (tl *Timeline) failed(i uint32, t int64, n int64) {
	if tl.fleet() {
		tl.failedBin(time.Duration(t)/tl.step, n) // one mark per bin
	}
	if int(i) != tl.one {
		return
	}
	at := time.Duration(t)
	if tl.coarse {
		at = at / tl.bin * tl.bin
	}
	if k := len(tl.failedCalls) - 1; k >= 0 && tl.failedCalls[k].At == at {
		tl.failedCalls[k].N += n
		return
	}
	tl.failedCalls = append(tl.failedCalls, failedMark{at, n})
	if len(tl.failedCalls) > timelineDetail {
		tl.coarsen()
	}
}

// failedBin adds n failed calls to the fleet's mark of bin b. Calls
// counted in closed form (chain.go) come later than those made since, so
// the marks are kept in order by bin rather than appended.
func (tl *Timeline) failedBin(b time.Duration, n int64) {
	at := b * tl.step
	k := sort.Search(len(tl.fleetFailed), func(k int) bool { return tl.fleetFailed[k].At >= at })
	if k < len(tl.fleetFailed) && tl.fleetFailed[k].At == at {
		tl.fleetFailed[k].N += n
		return
	}
	tl.fleetFailed = slices.Insert(tl.fleetFailed, k, failedMark{at, n})
}

// failedSpan adds n failed calls, one every every from from, to the
// fleet's marks. The calls of the session drawn in rows are never counted
// (failingCounted): each has its own mark there.
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
	tl.sampleUpTo(r.end)
	if !tl.started {
		return
	}
	if tl.spanStart < tl.duration {
		tl.addSpan(span{tl.spanStart, tl.duration, tl.cur})
	}
	one := uint32(tl.one)
	tl.token(one, r.sess(one).usableEnd, r.end)
}
