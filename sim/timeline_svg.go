package sim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Layout of the timeline picture: the rows' names left of the plot, their
// scales right of it.
const (
	tlWidth = 1000
	tlLeft  = 110.0
	tlRight = 940.0
	tlRow   = 22.0
	// tlCalls is the height of a row of failed calls, drawn to a scale.
	tlCalls = 30.0
	// tlShare is the height of a fleet's shares of sessions in each state.
	tlShare = 200.0
)

// TimelineSVG draws a run's timeline (Options.Timeline). The axis is
// simulated time. Fault windows are hatched bands above the plot, labelled
// with their kind, with their start and end dashed down through it; an
// instant fault is a marker. One session: the stretches it held a usable
// token, a band per state, a dot per refresh attempt coloured by its
// outcome, and its failed calls, to a scale. A fleet: the share of
// sessions in each state, averaged over each bin (sessions not begun yet
// count in none), the failed calls of all sessions per bin, to a scale,
// and under them the rows of one session as above (Options.Session). A
// legend explains every mark. A timeline read from a log (LogTimeline) has
// no usable stretches, failed calls, faults or session rows of a fleet.
func TimelineSVG(tl *Timeline) string {
	if tl == nil {
		return ""
	}
	p := &picture{tl: tl}
	title := tl.name + ": one session over " + tl.duration.String()
	switch {
	case tl.fleet() && tl.fromLog:
		title = fmt.Sprintf("%s: share of the log's %d sessions in each state, time from its first record", tl.name, tl.sessions)
	case tl.fleet():
		title = fmt.Sprintf("%s: share of %d sessions in each state over %v", tl.name, tl.sessions, tl.duration)
	case tl.fromLog:
		title = tl.name + ": one session's log, time from its first record"
	}
	p.s.text(tlLeft, 22, "start", "#111111", title)
	y := p.faultBand(34)
	if tl.fleet() {
		y = p.shares(y)
		if !tl.fromLog {
			y = p.calls(y, tl.fleetFailed, tl.step, "sum per "+shortDuration(tl.step))
		}
		if tl.started && !tl.fromLog {
			p.s.line(tlLeft, y+2, tlRight, y+2, "#bbbbbb", 1, false)
			p.s.text(tlLeft, y+18, "start", "#111111", fmt.Sprintf("session %d of %d", tl.one, tl.sessions))
			y = p.session(y + 26)
		}
	} else {
		y = p.session(y)
	}
	p.faultLines(y)
	p.s.axis(tlLeft, tlRight, y, tl.duration)
	y = p.legend(y + 42)
	var out svg
	out.open(tlWidth, int(y)+8)
	out.b.WriteString(p.s.b.String())
	return out.close()
}

// picture is a timeline picture being drawn: its body, and what its legend
// must explain.
type picture struct {
	tl *Timeline
	s  svg
	// bandBottom is where the fault band ends: the dashed lines of the
	// windows' starts and ends run from there to the axis.
	bandBottom float64
	// What was drawn, for the legend.
	usable, drewCalls, notBegun bool
	classes                     [numClasses]bool
	windows, instants           bool
}

func (p *picture) x(t time.Duration) float64 {
	return tlLeft + (tlRight-tlLeft)*float64(t)/float64(p.tl.duration)
}

// name writes a row's name left of the plot, with a second line under it
// when note is not empty.
func (p *picture) name(y, h float64, name, note string) {
	if note == "" {
		p.s.text(tlLeft-8, y+h/2+4, "end", "#333333", name)
		return
	}
	p.s.text(tlLeft-8, y+h/2-2, "end", "#333333", name)
	p.s.small(tlLeft-8, y+h/2+10, "end", "#777777", note)
}

// shares draws a fleet's stacked shares of sessions in each state from y,
// one step per bin, and returns where the next row starts.
func (p *picture) shares(y float64) float64 {
	tl := p.tl
	n := len(tl.shares)
	if n > 0 {
		base := make([]float64, n)
		edges := func(k int) (float64, float64) {
			return p.x(time.Duration(k) * tl.step), p.x(min(time.Duration(k+1)*tl.step, tl.duration))
		}
		for _, st := range states.States() {
			pts := make([]float64, 0, 8*n)
			for k := range n {
				x0, x1 := edges(k)
				pts = append(pts, x0, y+tlShare-tlShare*base[k], x1, y+tlShare-tlShare*base[k])
			}
			for k := n - 1; k >= 0; k-- {
				base[k] += tl.shares[k][st] / float64(tl.sessions)
				x0, x1 := edges(k)
				pts = append(pts, x1, y+tlShare-tlShare*base[k], x0, y+tlShare-tlShare*base[k])
			}
			p.s.polygon(pts, stateColor[st])
		}
		for _, b := range base {
			p.notBegun = p.notBegun || b < 1-0.5/float64(tl.sessions)
		}
	}
	p.s.line(tlLeft, y+tlShare, tlRight, y+tlShare, "#333333", 1, false)
	p.name(y, tlShare, "sessions", "")
	for _, f := range []float64{0, 0.5, 1} {
		p.s.line(tlRight, y+tlShare-tlShare*f, tlRight+4, y+tlShare-tlShare*f, "#333333", 1, false)
		p.s.text(tlRight+7, y+tlShare-tlShare*f+4, "start", "#333333", strconv.Itoa(int(f*100))+"%")
	}
	return y + tlShare + 10
}

// session draws the rows of one session from y (its usable token, a band
// per state, its attempts, its failed calls) and returns where the next
// row starts.
func (p *picture) session(y float64) float64 {
	tl := p.tl
	if !tl.fromLog {
		p.usable = true
		p.name(y, tlRow, "usable token", "")
		for _, sp := range tl.usable {
			p.s.rect(p.x(sp.From), y+3, p.x(sp.To)-p.x(sp.From), tlRow-6, usableColor, 1)
		}
		y += tlRow + 6
	}
	for _, st := range states.States() {
		p.name(y, tlRow, st.String(), "")
		p.s.line(tlLeft, y+tlRow, tlRight, y+tlRow, "#eeeeee", 1, false)
		for _, sp := range tl.spans {
			if sp.State == st {
				p.s.rect(p.x(sp.From), y+3, p.x(sp.To)-p.x(sp.From), tlRow-6, stateColor[st], 1)
			}
		}
		y += tlRow
	}
	y += 6
	p.name(y, tlRow, "refreshes", "")
	for _, a := range tl.attempts {
		p.classes[a.Class] = true
		p.s.circle(p.x(a.Sent), y+11, 4, classColor[a.Class])
	}
	y += tlRow
	if tl.fromLog {
		return y + 6
	}
	unit := "per instant"
	if tl.coarse {
		unit = "per " + shortDuration(tl.bin)
	}
	return p.calls(y+4, tl.failedCalls, tl.bin, unit)
}

// calls draws a row of failed calls from y: a bar per mark (each bin wide),
// as tall as its count to the row's scale, 0 to the largest count. unit
// says what one bar counts.
func (p *picture) calls(y float64, marks []failedMark, bin time.Duration, unit string) float64 {
	p.drewCalls = true
	var worst int64
	for _, f := range marks {
		worst = max(worst, f.N)
	}
	p.name(y, tlCalls, "failed calls", unit)
	p.s.line(tlLeft, y+tlCalls, tlRight, y+tlCalls, "#999999", 1, false)
	for _, f := range marks {
		w := max(p.x(bin)-p.x(0), 2)
		h := max(tlCalls*float64(f.N)/float64(worst), 2)
		p.s.rect(p.x(f.At), y+tlCalls-h, w, h, callsColor, 1)
	}
	top := "0"
	if worst > 0 {
		top = count(worst)
	}
	p.s.line(tlRight, y, tlRight+4, y, "#333333", 1, false)
	p.s.line(tlRight, y+tlCalls, tlRight+4, y+tlCalls, "#333333", 1, false)
	p.s.text(tlRight+7, y+8, "start", "#333333", top)
	p.s.text(tlRight+7, y+tlCalls+4, "start", "#333333", "0")
	return y + tlCalls + 10
}

// count prints a number of calls in at most five characters: 1234, 56k,
// 7.8M.
func count(n int64) string {
	switch {
	case n < 100_000:
		return strconv.FormatInt(n, 10)
	case n < 10_000_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
}

// Colours of the timeline's own marks.
var (
	usableColor = "#1b5e20"
	callsColor  = "#c62828"
)

// timelineSuspect explains a suspect refusal's dot.
func timelineSuspect() string {
	return "refresh: " + policy.Suspect.String() + " (an invalid_request, retried; revoked when it repeats " +
		strconv.Itoa(policy.SuspectRepeats) + " times in a row)"
}
