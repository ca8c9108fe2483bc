package sim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Layout of the timeline picture.
const (
	tlWidth = 960
	tlLeft  = 110.0
	tlRight = 940.0
	tlRow   = 22.0
)

// TimelineSVG draws a run's timeline (Options.Timeline): for one session,
// a band per state over time with fault windows shaded, refresh attempts
// marked by outcome and failed calls marked; for a fleet, the share of
// sessions in each state over time. The axis is simulated time.
func TimelineSVG(tl *Timeline) string {
	if tl == nil {
		return ""
	}
	if tl.fleet() {
		return fleetSVG(tl)
	}
	var s svg
	rows := states.States()
	usableY := 40.0
	top := usableY + tlRow + 6
	if tl.fromLog {
		top = usableY // a log does not say when a token was usable
	}
	attemptsY := top + tlRow*float64(len(rows)) + 6
	failedY := attemptsY + tlRow
	axisY := failedY + tlRow + 4
	if tl.fromLog {
		axisY = failedY + 4 // nor which calls failed
	}
	suspect := false // a suspect refusal's colour is explained on a line of its own
	for _, a := range tl.attempts {
		suspect = suspect || a.Class == policy.Suspect
	}
	height := int(axisY) + 64
	if suspect {
		height += 18
	}
	s.open(tlWidth, height)
	title := tl.name + ": one session over " + tl.duration.String()
	if tl.fromLog {
		title = tl.name + ": one session's log, time from its first record"
	}
	s.text(tlLeft, 22, "start", "#111111", title)
	x := func(t time.Duration) float64 { return tlLeft + (tlRight-tlLeft)*float64(t)/float64(tl.duration) }
	faults(&s, tl, x, usableY, axisY-usableY)
	if !tl.fromLog {
		s.text(tlLeft-8, usableY+15, "end", "#333333", "usable token")
	}
	for _, sp := range tl.usable {
		s.rect(x(sp.From), usableY+3, x(sp.To)-x(sp.From), tlRow-6, "#1b5e20", 1)
	}
	for k, st := range rows {
		y := top + tlRow*float64(k)
		s.text(tlLeft-8, y+15, "end", "#333333", st.String())
		s.line(tlLeft, y+tlRow, tlRight, y+tlRow, "#eeeeee", 1, false)
		for _, sp := range tl.spans {
			if sp.State == st {
				s.rect(x(sp.From), y+3, x(sp.To)-x(sp.From), tlRow-6, stateColor[st], 1)
			}
		}
	}
	s.text(tlLeft-8, attemptsY+15, "end", "#333333", "refreshes")
	for _, a := range tl.attempts {
		s.circle(x(a.Sent), attemptsY+11, 4, classColor[a.Class])
	}
	if !tl.fromLog {
		s.text(tlLeft-8, failedY+15, "end", "#333333", "failed calls")
	}
	for _, f := range tl.failedCalls {
		s.line(x(f.At), failedY+3, x(f.At), failedY+tlRow-3, "#e53935", 2, false)
	}
	s.axis(tlLeft, tlRight, axisY, tl.duration)
	legend(&s, axisY+40, true)
	if suspect {
		s.circle(16, axisY+54, 5, classColor[policy.Suspect])
		s.text(26, axisY+58, "start", "#333333", policy.Suspect.String()+
			" (an invalid_request, retried; revoked when it repeats "+strconv.Itoa(policy.SuspectRepeats)+" times in a row)")
	}
	return s.close()
}

// faults shades each fault window and marks each instant fault.
func faults(s *svg, tl *Timeline, x func(time.Duration) float64, top, h float64) {
	for _, f := range tl.faults {
		label := f.Kind.String()
		if f.Kind == FaultStatus {
			label = strconv.Itoa(f.Status)
		}
		if f.Instant {
			s.line(x(f.From), top-4, x(f.From), top+h, faultFill, 1.5, true)
			s.text(x(f.From), top-8, "middle", faultFill, label)
			continue
		}
		s.rect(x(f.From), top, x(f.To)-x(f.From), h, faultFill, 0.15)
		s.text(x(f.From), top-8, "start", faultFill, label)
	}
}

// legend explains the colours. With the attempts' outcomes it starts at
// the left edge, or the last of them would fall off the right one.
func legend(s *svg, y float64, attempts bool) {
	lx := tlLeft
	if attempts {
		lx = 10
	}
	for _, st := range states.States() {
		s.rect(lx, y-10, 12, 12, stateColor[st], 1)
		s.text(lx+16, y, "start", "#333333", st.String())
		lx += 90
	}
	if !attempts {
		return
	}
	for _, c := range []policy.Class{policy.OK, policy.Transient, policy.RateLimited, policy.Permanent} {
		s.circle(lx+6, y-4, 5, classColor[c])
		s.text(lx+16, y, "start", "#333333", c.String())
		lx += 100
	}
}

// fleetSVG draws the share of sessions in each state as stacked areas.
func fleetSVG(tl *Timeline) string {
	var s svg
	top, h := 40.0, 220.0
	axisY := top + h + 30
	s.open(tlWidth, int(axisY)+64)
	title := fmt.Sprintf("%s: share of %d sessions in each state over %v", tl.name, tl.sessions, tl.duration)
	if tl.fromLog {
		title = fmt.Sprintf("%s: share of the log's %d sessions in each state, time from its first record", tl.name, tl.sessions)
	}
	s.text(tlLeft, 22, "start", "#111111", title)
	x := func(t time.Duration) float64 { return tlLeft + (tlRight-tlLeft)*float64(t)/float64(tl.duration) }
	n := len(tl.samples)
	if n > 0 {
		base := make([]float64, n)
		for _, st := range states.States() {
			pts := make([]float64, 0, 4*n)
			for k := range n {
				pts = append(pts, x(time.Duration(k)*tl.step), top+h-h*base[k])
			}
			for k := n - 1; k >= 0; k-- {
				base[k] += float64(tl.samples[k][st]) / float64(tl.sessions)
				pts = append(pts, x(time.Duration(k)*tl.step), top+h-h*base[k])
			}
			s.polygon(pts, stateColor[st])
		}
	}
	faults(&s, tl, x, top, h)
	for _, p := range []float64{0, 0.5, 1} {
		s.text(tlLeft-8, top+h-h*p+4, "end", "#333333", strconv.Itoa(int(p*100))+"%")
	}
	var worst int64
	for _, f := range tl.failedCalls {
		worst = max(worst, f.N)
	}
	if !tl.fromLog {
		s.text(tlLeft-8, top+h+18, "end", "#333333", "failed calls")
	}
	for _, f := range tl.failedCalls {
		s.rect(x(f.At), top+h+6, max(x(tl.step)-x(0), 1), 16*float64(f.N)/float64(worst), "#e53935", 1)
	}
	s.axis(tlLeft, tlRight, axisY, tl.duration)
	legend(&s, axisY+40, false)
	return s.close()
}
