package sim

import (
	"strconv"
	"unicode/utf8"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// The fault band's geometry: its labels' lanes above it, and its height.
const (
	faultLane   = 14.0
	faultLanes  = 8 // at most: beyond, a label goes after another
	faultBandH  = 12.0
	faultStroke = "#b71c1c"
)

// textWidth estimates the width of t in the picture's 12-pixel sans-serif.
func textWidth(t string) float64 { return 7.2 * float64(utf8.RuneCountInString(t)) }

// faultLabel names a fault in the band: its kind, a status fault by its
// status.
func faultLabel(f Fault) string {
	if f.Kind == FaultStatus {
		return strconv.Itoa(f.Status)
	}
	return f.Kind.String()
}

// faultBand draws the faults of a run above the plot from y, a hatched
// band per window and a marker per instant fault, and returns where the
// plot starts. Each is labelled above the band, in the lowest lane where
// its label, starting or ending at the fault, meets no other; where none
// is free, after the last label of the least crowded lane. A label not
// next to the band is tied to its fault by a thin line. A timeline without
// faults (or read from a log) draws none.
func (p *picture) faultBand(y float64) float64 {
	tl := p.tl
	if tl.fromLog || len(tl.faults) == 0 {
		p.bandBottom = -1
		return y + 6
	}
	type placed struct {
		at, x float64 // the fault's x, and where its label starts
		lane  int
		label string
	}
	var labels []placed
	var used [faultLanes][][2]float64 // each lane's labels, from and to
	free := func(lane int, from, to float64) bool {
		for _, u := range used[lane] {
			if from < u[1]+8 && u[0] < to+8 {
				return false
			}
		}
		return from >= 2 && to <= tlWidth-2
	}
	lanes := 1
	for _, f := range tl.faults {
		l := faultLabel(f)
		at, w := p.x(f.From), textWidth(l)
		pl := placed{at: at, lane: -1, label: l}
	lanesLoop:
		for lane := range faultLanes {
			for _, x := range []float64{at, at - w} {
				if free(lane, x, x+w) {
					pl.x, pl.lane = x, lane
					break lanesLoop
				}
			}
		}
		if pl.lane < 0 { // crowded: after the last label of the emptiest lane
			pl.lane = 0
			for lane := range faultLanes {
				if len(used[lane]) < len(used[pl.lane]) {
					pl.lane = lane
				}
			}
			for _, u := range used[pl.lane] {
				pl.x = max(pl.x, u[1]+8)
			}
			pl.x = min(pl.x, tlWidth-2-w)
		}
		used[pl.lane] = append(used[pl.lane], [2]float64{pl.x, pl.x + w})
		lanes = max(lanes, pl.lane+1)
		labels = append(labels, pl)
	}
	band := y + faultLane*float64(lanes) + 2
	for _, l := range labels {
		base := band - 4 - faultLane*float64(l.lane)
		p.s.text(l.x, base, "start", faultStroke, l.label)
		if l.lane > 0 || l.at < l.x || l.at > l.x+textWidth(l.label) {
			p.s.line(l.at, base+2, l.at, band, faultStroke, 0.6, false)
		}
	}
	p.name(band, faultBandH, "faults", "")
	p.s.defs(`<pattern id="fault-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#ffebee"/><rect width="2.5" height="6" fill="` + faultStroke + `"/></pattern>`)
	for _, f := range tl.faults {
		x := p.x(f.From)
		if f.Instant {
			p.instants = true
			p.s.triangle(x, band, faultBandH, faultStroke)
			continue
		}
		p.windows = true
		w := max(p.x(min(f.To, tl.duration))-x, 2)
		p.s.hatched(x, band, w, faultBandH, "url(#fault-hatch)", faultStroke)
	}
	p.bandBottom = band + faultBandH
	return p.bandBottom + 8
}

// faultLines dashes each window's start and end, and each instant fault,
// from the fault band down to the axis at y, over what the rows drew: on
// any state's colour, the outage's end shows.
func (p *picture) faultLines(y float64) {
	if p.bandBottom < 0 {
		return
	}
	var xs []float64
	for _, f := range p.tl.faults {
		xs = append(xs, p.x(f.From))
		if !f.Instant && f.To < p.tl.duration {
			xs = append(xs, p.x(f.To))
		}
	}
	for _, x := range xs {
		p.s.line(x, p.bandBottom, x, y, "#ffffff", 3, false)
		p.s.line(x, p.bandBottom, x, y, faultStroke, 1.2, true)
	}
}

// A legend entry: a swatch of one kind and what it means.
type legendEntry struct {
	swatch int
	color  string
	text   string
}

// Swatches of the legend.
const (
	swatchBox = iota
	swatchDot
	swatchBar
	swatchHatch
	swatchInstant
	swatchEmpty
)

// legend explains every mark the picture drew, from y, in as many lines
// as the entries take; it returns where it ends.
func (p *picture) legend(y float64) float64 {
	var es []legendEntry
	for _, st := range states.States() {
		es = append(es, legendEntry{swatchBox, stateColor[st], st.String()})
	}
	if p.notBegun {
		es = append(es, legendEntry{swatchEmpty, "", "not begun yet"})
	}
	if p.usable {
		es = append(es, legendEntry{swatchBox, usableColor, "usable token"})
	}
	for _, c := range []policy.Class{policy.OK, policy.Transient, policy.RateLimited, policy.Permanent} {
		if p.classes[c] {
			es = append(es, legendEntry{swatchDot, classColor[c], "refresh: " + c.String()})
		}
	}
	if p.classes[policy.Suspect] {
		es = append(es, legendEntry{swatchDot, classColor[policy.Suspect], timelineSuspect()})
	}
	if p.drewCalls {
		es = append(es, legendEntry{swatchBar, callsColor, "failed calls (to the row's scale)"})
	}
	if p.windows {
		es = append(es, legendEntry{swatchHatch, "", "fault window (dashed: its start and end)"})
	}
	if p.instants {
		es = append(es, legendEntry{swatchInstant, faultStroke, "instant fault"})
	}
	p.s.b.WriteString(`<g id="legend">` + "\n")
	defer p.s.b.WriteString("</g>\n")
	x := 10.0
	for _, e := range es {
		w := 18 + textWidth(e.text) + 14
		if x > 10 && x+w > tlWidth-10 {
			x, y = 10, y+18
		}
		switch e.swatch {
		case swatchBox:
			p.s.rect(x, y-10, 12, 12, e.color, 1)
		case swatchDot:
			p.s.circle(x+6, y-4, 5, e.color)
		case swatchBar:
			p.s.rect(x+4, y-11, 4, 14, e.color, 1)
		case swatchHatch:
			p.s.hatched(x, y-10, 12, 12, "url(#fault-hatch)", faultStroke)
		case swatchInstant:
			p.s.triangle(x+6, y-10, 12, e.color)
		case swatchEmpty:
			p.s.hatched(x, y-10, 12, 12, "#ffffff", "#999999")
		}
		p.s.text(x+18, y, "start", "#333333", e.text)
		x += w
	}
	return y + 8
}
