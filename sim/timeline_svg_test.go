package sim

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// element is one drawing element of a picture, in document order.
type element struct {
	name   string
	attr   map[string]string
	text   string
	legend bool // within the legend
}

func (e element) num(key string) float64 {
	v, _ := strconv.ParseFloat(e.attr[key], 64)
	return v
}

// elements reads the picture's elements.
func elements(t *testing.T, picture string) []element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(picture))
	var out []element
	var open []int // the elements open, innermost last
	depth, legendAt := 0, -1
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the picture is not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			e := element{name: tok.Name.Local, attr: map[string]string{}, legend: legendAt >= 0}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			if e.name == "g" && e.attr["id"] == "legend" {
				legendAt = depth
			}
			open = append(open, len(out))
			out = append(out, e)
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(tok)
			}
		case xml.EndElement:
			if depth == legendAt {
				legendAt = -1
			}
			depth--
			open = open[:len(open)-1]
		}
	}
}

// fleetFail is a fleet of 20 sessions whose families of two share nothing:
// a 502 at the refresh point, then the copies strand each other.
const fleetFail = `{name: f, duration: 3h, token: {ttl: 1h, rotate: true, reuse_detection: true},
	session: {refresh_ahead: 1m, policy: {kind: constant, initial: 2s, jitter: none}},
	fleet: {sessions: 20, families: 10, start_spread: 10m}, share: {kind: none},
	server: {faults: [{from: 55m, to: 1h20m, kind: status, status: 502}, {at: 2h30m, kind: reject_access}]},
	workload: [{kind: requests, every: 30s}]}`

// TestFleetPictureDrawsTheSession: under a fleet's shares, the picture
// draws the rows of the session Options.Session names: its spans and
// attempts are those its own transitions give, and another session gives
// another picture.
func TestFleetPictureDrawsTheSession(t *testing.T) {
	sc := mustParse(t, fleetFail)
	pictures := map[string]int{}
	for _, one := range []int{3, 14} {
		res := Run(sc, Options{Timeline: true, Trace: true, Session: one})
		var mine []audit.Record
		for _, e := range res.Trace {
			if sessionOf(e) == one {
				mine = append(mine, e)
			}
		}
		es := traceEntries(t, mine)
		for k := range es {
			es[k].Session = 0
		}
		want := LogTimeline("one", 1, sc.Duration, es)
		tl := res.Timeline
		if !tl.started || tl.one != one || len(tl.spans) < 3 {
			t.Fatalf("session %d: started %t, one %d, %d spans", one, tl.started, tl.one, len(tl.spans))
		}
		// The log's picture counts the session from the start; the run's
		// from when it began.
		got := slices.Clone(tl.spans)
		got[0].From = 0
		if diff := cmp.Diff(want.spans, got); diff != "" {
			t.Errorf("session %d: spans (-its transitions +drawn):\n%s", one, diff)
		}
		if diff := cmp.Diff(want.attempts, tl.attempts); diff != "" {
			t.Errorf("session %d: attempts (-its transitions +drawn):\n%s", one, diff)
		}
		svg := TimelineSVG(tl)
		if !strings.Contains(svg, fmt.Sprintf(">session %d of 20<", one)) {
			t.Errorf("session %d: the picture does not name it", one)
		}
		pictures[svg] = one
	}
	if len(pictures) != 2 {
		t.Errorf("sessions 3 and 14 give the same picture")
	}
}

// TestTimelineFaultsAboveTheStates: a fault window is a hatched band above
// the plot, labelled, and the dashed lines of its start and end are drawn
// after (over) every state's colour, from the band down to the axis.
func TestTimelineFaultsAboveTheStates(t *testing.T) {
	for _, src := range []string{fleetFail, `{name: one, duration: 3h, token: {ttl: 1h}, session: {refresh_ahead: 0s},
		server: {faults: [{from: 55m, to: 1h20m, kind: status, status: 502}, {at: 2h30m, kind: reject_access}]}, workload: [{kind: requests, every: 1m}]}`} {
		sc := mustParse(t, src)
		tl := Run(sc, Options{Timeline: true}).Timeline
		es := elements(t, TimelineSVG(tl))
		x := func(d time.Duration) string {
			return fmt.Sprintf("%.1f", tlLeft+(tlRight-tlLeft)*float64(d)/float64(sc.Duration))
		}
		top, lastState := 1e9, -1
		for i, e := range es {
			if e.legend {
				continue
			}
			if (e.name == "polygon" || e.name == "rect") && slices.Contains(stateColor[:], e.attr["fill"]) {
				lastState = i
				if e.name == "rect" {
					top = min(top, e.num("y"))
				} else {
					for _, pt := range strings.Fields(e.attr["points"]) {
						_, y, _ := strings.Cut(pt, ",")
						v, _ := strconv.ParseFloat(y, 64)
						top = min(top, v)
					}
				}
			}
		}
		var band, label, start, end, instant bool
		for i, e := range es {
			switch {
			case e.legend:
			case e.name == "rect" && e.attr["fill"] == "url(#fault-hatch)" && e.attr["x"] == x(55*time.Minute):
				band = e.num("y")+e.num("height") <= top
			case e.name == "text" && e.text == "502":
				label = e.num("y") <= top
			case e.name == "path" && e.attr["fill"] == faultStroke:
				instant = true
			case e.name == "line" && e.attr["stroke-dasharray"] != "" && e.attr["stroke"] == faultStroke && i > lastState && e.num("y1") <= top:
				start = start || e.attr["x1"] == x(55*time.Minute)
				end = end || e.attr["x1"] == x(80*time.Minute)
			}
		}
		if !band || !label || !start || !end || !instant {
			t.Errorf("%s: hatched band above the plot %t, labelled %t, start dashed over the states %t, end %t, instant marked %t",
				sc.Name, band, label, start, end, instant)
		}
	}
}

// TestTimelineLegendExplainsEveryMark: every colour a mark of the picture
// is drawn in has its entry in the legend, whatever the picture: one
// session, a fleet, a log's.
func TestTimelineLegendExplainsEveryMark(t *testing.T) {
	one := mustParse(t, `{name: s, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s},
		server: {faults: [{from: 59m, to: 1h0m2s, kind: status, status: 400}, {from: 1h10m, to: 1h12m, kind: status, status: 429, retry_after: 30s}, {at: 1h30m, kind: revoke}]},
		workload: [{kind: requests, every: 1m}]}`)
	fleet := mustParse(t, fleetFail)
	run := Run(fleet, Options{Trace: true})
	log := LogTimeline("log", 20, fleet.Duration, traceEntries(t, run.Trace))
	for _, tl := range []*Timeline{Run(one, Options{Timeline: true}).Timeline, Run(fleet, Options{Timeline: true}).Timeline, log} {
		explained, drawn := map[string]bool{}, map[string]bool{}
		for _, e := range elements(t, TimelineSVG(tl)) {
			fill := e.attr["fill"]
			if e.name == "text" || e.name == "svg" || e.name == "pattern" || fill == "" || fill == "#ffffff" && !e.legend {
				continue
			}
			if e.legend {
				explained[fill] = true
			} else if !strings.HasPrefix(fill, "#ff") || e.name != "rect" || e.attr["width"] != "6" { // the hatch's own tiles
				drawn[fill] = true
			}
		}
		for fill := range drawn {
			if !explained[fill] {
				t.Errorf("%s: marks in %s, which the legend does not explain (it explains %v)", tl.name, fill, explained)
			}
		}
		if len(drawn) < 5 {
			t.Errorf("%s: only %d colours drawn", tl.name, len(drawn))
		}
	}
}

// TestTimelineScales: every row that counts something has a scale right
// of the plot: the fleet's shares 0% to 100%, each row of failed calls 0
// to its largest count.
func TestTimelineScales(t *testing.T) {
	sc := mustParse(t, fleetFail)
	tl := Run(sc, Options{Timeline: true, Session: 3}).Timeline
	worst := func(ms []failedMark) string {
		var n int64
		for _, m := range ms {
			n = max(n, m.N)
		}
		return count(n)
	}
	var scale []string
	for _, e := range elements(t, TimelineSVG(tl)) {
		if e.name == "text" && e.num("x") > tlRight {
			scale = append(scale, e.text)
		}
	}
	want := []string{"0%", "50%", "100%", worst(tl.fleetFailed), "0", worst(tl.failedCalls), "0"}
	if len(tl.fleetFailed) == 0 || len(tl.failedCalls) == 0 || !slices.Equal(scale, want) {
		t.Errorf("scales %q, want %q", scale, want)
	}
}

// TestFleetSharesAverageTheBin: a fleet's bin shows the states its
// sessions were in over its time: a thousand sessions refreshing together
// for 50 ms across the start of an 18-second bin fill 0.3% of it, where a
// count at the bin's start showed them all refreshing (a band of blue
// from the baseline to the top).
func TestFleetSharesAverageTheBin(t *testing.T) {
	sc := mustParse(t, `{name: together, duration: 2h, token: {ttl: 59m}, session: {refresh_ahead: 5m20ms},
		fleet: {sessions: 1000}, workload: [{kind: requests, every: 10m}]}`)
	tl := Run(sc, Options{Timeline: true}).Timeline
	var most float64
	for _, b := range tl.shares {
		most = max(most, b[states.Refreshing]/float64(tl.sessions))
		var sum float64
		for _, n := range b {
			sum += n
		}
		if sum < 999.999 || sum > 1000.001 {
			t.Fatalf("a bin holds %v sessions, want 1000", sum)
		}
	}
	if most < 0.001 || most > 0.01 {
		t.Errorf("at most %.4f of the sessions drawn refreshing in a bin; want their 50 ms of its 18 s", most)
	}
}

// TestTimelineCoarseSuspect: a coarse picture (a long run of failed calls)
// merges suspect refusals as it merges the other classes.
func TestTimelineCoarseSuspect(t *testing.T) {
	sc := mustParse(t, `{name: c, duration: 2h, token: {ttl: 10m}, session: {refresh_ahead: 0s},
		server: {faults: [{from: 9m, to: 1h, kind: status, status: 502}, {from: 1h10m, to: 1h11m, kind: status, status: 400}]},
		workload: [{kind: requests, every: 100ms}]}`)
	tl := Run(sc, Options{Timeline: true}).Timeline
	suspect := false
	for _, a := range tl.attempts {
		suspect = suspect || a.Class == policy.Suspect
	}
	if !tl.coarse || !suspect {
		t.Errorf("coarse %t, a suspect refusal drawn %t", tl.coarse, suspect)
	}
}
