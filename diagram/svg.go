package diagram

import (
	"fmt"
	"math"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// SVG renders the machine as a self-contained SVG picture: states on a
// circle in declaration order, edges as curves labelled with their events,
// each start state marked by a dot and a labelled arrow.
func SVG() string { return svg(nil) }

// WeightedSVG renders the machine with the counts of c as SVG, laid out as
// SVG does: each edge's stroke width grows with the logarithm of the
// edge's count, and edges never taken are thin, grey and dashed. Unlike
// the DOT and Mermaid renderers, whose layout engines place every label,
// it labels a taken edge with the events that fired ("succeed ×1000") and
// leaves an edge never taken unlabelled: on its fixed circle the labels of
// fifteen mostly idle edges would cover one another. A line at the foot
// says so.
func WeightedSVG(c states.Counts) string { return svg(&c) }

func svg(c *states.Counts) string {
	const (
		w, h     = 760.0, 620.0
		cx, cy   = w / 2, h/2 + 10
		radius   = 220.0
		boxW     = 110.0
		boxH     = 40.0
		bend     = 0.18 // curvature, as a share of the edge length
		fontSize = 13
	)
	n := float64(len(states.States()))
	pos := make([][2]float64, len(states.States()))
	for i := range pos {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/n
		pos[i] = [2]float64{cx + radius*math.Cos(a), cy + radius*math.Sin(a)}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif">`+"\n", w, h, w, h)
	if c == nil {
		b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>` + "\n")
	} else {
		// The arrowheads of weighted edges keep one size whatever the
		// stroke's width (userSpaceOnUse); the start arrows keep "arrow".
		b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker>` +
			`<marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="13" markerHeight="13" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker>` +
			`<marker id="arrow-faint" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="` + faintStroke + `"/></marker></defs>` + "\n")
	}
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#fff"/>`+"\n", w, h)
	var labels strings.Builder
	for _, e := range drawings(c) {
		stroke, fill := e.svgStroke(), e.svgText()
		label := e.label
		if e.weighted {
			label = firedLabel(c, e.Edge)
		}
		p, q := pos[e.From], pos[e.To]
		if e.From == e.To {
			// A loop above the box.
			x, y := p[0], p[1]-boxH/2
			fmt.Fprintf(&b, `<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" %s/>`+"\n",
				x-20, y, x-45, y-55, x+45, y-55, x+20, y, stroke)
			if label != "" {
				fmt.Fprintf(&labels, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", x, y-50, fontSize, fill, label)
			}
			continue
		}
		dx, dy := q[0]-p[0], q[1]-p[1]
		l := math.Hypot(dx, dy)
		ux, uy := dx/l, dy/l
		// Leave and enter the boxes at their borders.
		s := clipBox(ux, uy, boxW/2+4, boxH/2+4)
		x1, y1 := p[0]+ux*s, p[1]+uy*s
		x2, y2 := q[0]-ux*s, q[1]-uy*s
		// Bend to the right of the direction of travel, so that the two
		// directions between a pair of states never overlap.
		mx, my := (x1+x2)/2-uy*bend*l, (y1+y2)/2+ux*bend*l
		fmt.Fprintf(&b, `<path d="M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f" fill="none" %s/>`+"\n", x1, y1, mx, my, x2, y2, stroke)
		// Label at t=0.4 of the curve, nearer the source: edges that cross the
		// middle of the circle then keep their labels apart.
		const t = 0.4
		lx := (1-t)*(1-t)*x1 + 2*t*(1-t)*mx + t*t*x2
		ly := (1-t)*(1-t)*y1 + 2*t*(1-t)*my + t*t*y2
		if e.weighted {
			// Off the curve, on the side it bends to: a heavy stroke would
			// run through the label, and the other direction's is on the
			// other side.
			lx, ly = lx-uy*(6+e.width(1.3, 7)), ly+ux*(6+e.width(1.3, 7))
		}
		if label != "" {
			fmt.Fprintf(&labels, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle" fill="%s" stroke="#fff" stroke-width="4" paint-order="stroke">%s</text>`+"\n", lx, ly+4, fontSize, fill, label)
		}
	}
	for _, st := range states.States() {
		p := pos[st]
		fill := "#eef4ff"
		if st == states.Revoked {
			fill = "#ffecec"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%g" height="%g" rx="10" fill="%s" stroke="#335" stroke-width="1.5"/>`+"\n", p[0]-boxW/2, p[1]-boxH/2, boxW, boxH, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="15" text-anchor="middle">%s</text>`+"\n", p[0], p[1]+5, st)
	}
	// Each start state: a dot to its left with a labelled arrow into the box.
	for _, st := range Starts() {
		p := pos[st.State]
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="7" fill="#222"/>`+"\n", p[0]-boxW/2-70, p[1])
		fmt.Fprintf(&b, `<path d="M%.1f,%.1f L%.1f,%.1f" stroke="#222" stroke-width="1.5" marker-end="url(#arrow)"/>`+"\n", p[0]-boxW/2-62, p[1], p[0]-boxW/2-2, p[1])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`+"\n", p[0]-boxW/2-34, p[1]-6, st.Label)
	}
	b.WriteString(labels.String())
	if c != nil {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#666">%d transitions counted; an edge's width grows with the logarithm of its count; dashed grey, unlabelled: never taken</text>`+"\n", 12.0, h-12, c.Total())
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// clipBox returns the distance from a box's centre to its border along the
// unit vector (ux, uy), for a box with half-sizes hw and hh.
func clipBox(ux, uy, hw, hh float64) float64 {
	tx, ty := math.Inf(1), math.Inf(1)
	if ux != 0 {
		tx = hw / math.Abs(ux)
	}
	if uy != 0 {
		ty = hh / math.Abs(uy)
	}
	return math.Min(tx, ty)
}
