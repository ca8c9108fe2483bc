package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authfsm/authfsm/states"
)

// TestLogBuilderFleetInAnyOrder: a fleet's entries fed in any order, as a
// log of several runs or processes holds them, give the shares LogTimeline
// gives from them in time order, and those of the run.
func TestLogBuilderFleetInAnyOrder(t *testing.T) {
	sc, err := Load("../testdata/scenarios/fleet-outage-no-jitter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(sc, Options{Trace: true, Timeline: true})
	es := traceEntries(t, res.Trace)
	want := LogTimeline("fleet", sc.Fleet.Sessions, sc.Duration, es)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	b := NewLogBuilder("fleet", sc.Fleet.Sessions, sc.Duration)
	for _, e := range es {
		b.Add(e)
	}
	got := b.Timeline()
	if diff := cmp.Diff(want.shares, got.shares, approx); diff != "" || len(got.shares) != timelineBins {
		t.Errorf("%d bins (-sorted +shuffled):\n%s", len(got.shares), diff)
	}
	if diff := cmp.Diff(res.Timeline.shares, got.shares, approx); diff != "" {
		t.Errorf("shares (-run +log):\n%s", diff)
	}
}

// approx compares the shares of sessions in each state that a run and a
// log sum in different orders.
var approx = cmpopts.EquateApprox(0, 1e-9)

// cycleEntries returns n transitions of session 0, evenly over d, going
// round valid, refreshing, backoff (a 502), refreshing, valid.
func cycleEntries(n int, d time.Duration) func(yield func(LogEntry) bool) {
	cycle := []LogEntry{
		{From: states.Valid, To: states.Refreshing, Event: states.RefreshAhead},
		{From: states.Refreshing, To: states.Backoff, Event: states.Fail, Cause: "502 Bad Gateway"},
		{From: states.Backoff, To: states.Refreshing, Event: states.Retry},
		{From: states.Refreshing, To: states.Valid, Event: states.Succeed},
	}
	return func(yield func(LogEntry) bool) {
		for i := range n {
			e := cycle[i%len(cycle)]
			e.At = time.Duration(float64(d) / float64(n) * float64(i))
			if !yield(e) {
				return
			}
		}
	}
}

// TestLogBuilderBounded: a million transitions of one session make a
// picture of at most a few elements per bin, every state's time and every
// attempt's class still drawn; a fleet's picture keeps its shares alone.
func TestLogBuilderBounded(t *testing.T) {
	const n, d = 1_000_000, 24 * time.Hour
	b := NewLogBuilder("one", 1, d)
	for e := range cycleEntries(n, d) {
		b.Add(e)
	}
	tl := b.Timeline()
	if bound := 4 * timelineFine; !tl.coarse || len(tl.spans)+len(tl.attempts) > bound {
		t.Fatalf("coarse %t, %d spans and %d attempts; want at most %d", tl.coarse, len(tl.spans), len(tl.attempts), bound)
	}
	var in [numStates]time.Duration
	for _, sp := range tl.spans {
		in[sp.State] += sp.To - sp.From
	}
	classes := map[string]bool{}
	for _, a := range tl.attempts {
		classes[a.Class.String()] = true
	}
	if in[states.Valid] < d/4 || in[states.Refreshing] < d/4 || in[states.Backoff] < d/4 || !classes["ok"] || !classes["transient"] {
		t.Errorf("time in state %v, attempt classes %v", in, classes)
	}
	fb := NewLogBuilder("fleet", 1000, d)
	for e := range cycleEntries(n, d) {
		e.Session = int(e.At/time.Second) % 1000
		fb.Add(e)
	}
	if got := len(fb.delta); got != timelineBins+1 {
		t.Errorf("the fleet keeps %d bins' deltas, want %d", got, timelineBins+1)
	}
	if len(fb.Timeline().spans)+len(fb.tl.attempts) != 0 {
		t.Errorf("the fleet's picture keeps one session's elements")
	}
}

// TestLogBuilderClockSetBack: an entry of one session earlier than the one
// before it is drawn at that one's time: no span ends before it starts.
func TestLogBuilderClockSetBack(t *testing.T) {
	b := NewLogBuilder("one", 1, time.Minute)
	for _, e := range []LogEntry{
		{At: 10 * time.Second, From: states.Valid, To: states.Refreshing, Event: states.RefreshAhead},
		{At: 30 * time.Second, From: states.Refreshing, To: states.Backoff, Event: states.Fail},
		{At: 20 * time.Second, From: states.Backoff, To: states.Refreshing, Event: states.Retry},
		{At: 40 * time.Second, From: states.Refreshing, To: states.Valid, Event: states.Succeed},
	} {
		b.Add(e)
	}
	want := []span{
		{0, 10 * time.Second, states.Valid}, {10 * time.Second, 30 * time.Second, states.Refreshing},
		{30 * time.Second, 40 * time.Second, states.Refreshing}, {40 * time.Second, time.Minute, states.Valid},
	}
	if diff := cmp.Diff(want, b.Timeline().spans); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// TestLogBuilderLongestAxis: a log's picture over the longest time.Duration
// (292 years) is drawn over maxLogDuration, coarse or not, one session or
// a fleet, with no negative width and an axis that ends.
func TestLogBuilderLongestAxis(t *testing.T) {
	for _, n := range []int{10, 3 * timelineDetail} {
		for _, sessions := range []int{1, 3} {
			b := NewLogBuilder("long", sessions, math.MaxInt64)
			for e := range cycleEntries(n, math.MaxInt64) {
				b.Add(e)
			}
			b.Add(LogEntry{At: math.MaxInt64, From: states.Refreshing, To: states.Valid, Event: states.Succeed})
			tl := b.Timeline()
			if tl.duration != maxLogDuration {
				t.Errorf("duration %v, want %v", tl.duration, maxLogDuration)
			}
			for _, sp := range tl.spans {
				if sp.From < 0 || sp.To < sp.From || sp.To > tl.duration+tl.bin {
					t.Fatalf("%d entries: span %v", n, sp)
				}
			}
			svg := TimelineSVG(tl)
			if strings.Contains(svg, `width="-`) || strings.Count(svg, "<text") > 100 {
				t.Errorf("%d entries of %d sessions: a negative width or %d texts", n, sessions, strings.Count(svg, "<text"))
			}
		}
	}
}
