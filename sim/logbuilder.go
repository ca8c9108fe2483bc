package sim

import (
	"math"
	"time"

	"github.com/authfsm/authfsm/states"
)

// maxLogDuration is the longest time axis a log's picture takes (LogBuilder
// cuts a longer one to it): a little under the longest time.Duration (292
// years, 0.12% short of it), so that widening a time to the coarse
// picture's bins cannot overflow.
const maxLogDuration = time.Duration(math.MaxInt64 - math.MaxInt64/timelineFine*2)

// LogBuilder builds the model LogTimeline builds, from a log's transitions
// fed one at a time, in memory that grows with the number of the log's
// sessions but not with the number of its transitions: a fleet's picture
// keeps a count of sessions per state and sample, one session's picture at
// most a few elements per bin across the plot, merged as a long run's are
// (Options.Timeline). So a log of any length can be drawn as it is read.
//
// A fleet's entries (sessions > 1) may come in any order: the picture is
// the one LogTimeline draws from them. One session's entries must come in
// time order, as its log holds them; one earlier than the entry before it
// (a clock set back) is drawn at that entry's time. The zero LogBuilder is
// not usable: call NewLogBuilder. A LogBuilder is not safe for concurrent
// use.
type LogBuilder struct {
	tl *Timeline
	// first is each session's earliest entry: the session counts in the
	// state it leaves from the start.
	first map[int]firstEntry
	// delta[k] is how the fleet's counts change between the start of bin
	// k-1 and that of bin k; partial[k] the time, in bins, that the
	// transitions within bin k moved between states within it.
	delta   [][numStates]int32
	partial [][numStates]float64
	// One session: when its last refresh request was sent, and the time of
	// its last entry.
	sent, last time.Duration
	done       bool
}

// firstEntry is a session's earliest entry: its time and the state it left.
type firstEntry struct {
	at   time.Duration
	from states.State
}

// NewLogBuilder returns a LogBuilder for the picture of a log of sessions
// sessions over duration, named name in the picture's title. A duration
// under 1 ns is taken as 1 ns, and one over about 292 years (a little under
// the longest time.Duration) as that.
func NewLogBuilder(name string, sessions int, duration time.Duration) *LogBuilder {
	duration = min(max(duration, 1), maxLogDuration)
	tl := &Timeline{name: name, duration: duration, sessions: sessions, fromLog: true}
	b := &LogBuilder{tl: tl, first: map[int]firstEntry{}}
	if tl.fleet() {
		tl.step = max(duration/timelineBins, 1)
		b.delta = make([][numStates]int32, tl.bins()+1)
		b.partial = make([][numStates]float64, tl.bins())
	} else {
		tl.started = true // from the start, in the state its first record leaves
	}
	return b
}

// Add adds one transition of the log. A time outside [0, duration] is
// clamped to it. Add after Timeline has no effect.
func (b *LogBuilder) Add(e LogEntry) {
	tl := b.tl
	if b.done {
		return
	}
	at := min(max(e.At, 0), tl.duration)
	if f, ok := b.first[e.Session]; !ok || at < f.at {
		b.first[e.Session] = firstEntry{at, e.From}
	}
	if tl.fleet() {
		// Bin k averages its sessions' states over its time, as a run's
		// sampleUpTo does: a transition within it counts for the rest of
		// it, and in full for the bins after. The order the entries come
		// in does not matter.
		if k := int(at / tl.step); k < len(b.partial) {
			b.delta[k+1][e.From]--
			b.delta[k+1][e.To]++
			from, to := time.Duration(k)*tl.step, min(time.Duration(k+1)*tl.step, tl.duration)
			rest := float64(to-at) / float64(to-from)
			b.partial[k][e.From] -= rest
			b.partial[k][e.To] += rest
		}
		tl.counts[e.From]--
		tl.counts[e.To]++
		return
	}
	at = max(at, b.last)
	b.last = at
	tl.transition(uint32(e.Session), states.Transition{From: e.From, To: e.To, Event: e.Event}, int64(at))
	switch {
	case e.To == states.Refreshing:
		b.sent = at
	case e.From == states.Refreshing:
		if c, ok := answered(e); ok {
			tl.attempt(uint32(e.Session), int64(b.sent), int64(at), c)
		}
	}
}

// Timeline finishes the picture and returns its model, for TimelineSVG.
// Later calls return the same model.
func (b *LogBuilder) Timeline() *Timeline {
	tl := b.tl
	if b.done {
		return tl
	}
	b.done = true
	var initial [numStates]int32
	for _, f := range b.first {
		initial[f.from]++
	}
	for s := range tl.counts {
		tl.counts[s] += initial[s]
	}
	if tl.fleet() {
		tl.shares = make([][numStates]float64, len(b.partial))
		c := initial
		for k := range tl.shares {
			for s := range c {
				c[s] += b.delta[k][s]
				tl.shares[k][s] = float64(c[s]) + b.partial[k][s]
			}
		}
		b.delta, b.partial = nil, nil
		return tl
	}
	if tl.spanStart < tl.duration {
		tl.spans = append(tl.spans, span{tl.spanStart, tl.duration, tl.cur})
	}
	return tl
}
