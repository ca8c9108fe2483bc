package states

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Edge is one arrow of the diagram: every event that leads from From to To.
type Edge struct {
	From, To State
	Events   []Event
}

// Label joins the edge's event names.
func (e Edge) Label() string {
	names := make([]string, len(e.Events))
	for i, ev := range e.Events {
		names[i] = ev.String()
	}
	return strings.Join(names, ", ")
}

// Edges returns the table's transitions grouped by (from, to), ordered by
// source state and then by the destination's first appearance in Table, so
// the diagrams are byte-stable.
func Edges() []Edge {
	var edges []Edge
	for _, from := range States() {
		for _, d := range Table {
			e, _ := eventByName(d.Name)
			to, ok := Next(from, e)
			if !ok {
				continue
			}
			i := indexEdge(edges, from, to)
			if i < 0 {
				edges = append(edges, Edge{From: from, To: to})
				i = len(edges) - 1
			}
			edges[i].Events = append(edges[i].Events, e)
		}
	}
	return edges
}

func indexEdge(edges []Edge, from, to State) int {
	for i, e := range edges {
		if e.From == from && e.To == to {
			return i
		}
	}
	return -1
}

// Counts says how often each event fired in each state, as counted from an
// audit log or a simulator trace; the table gives each one's destination.
// The weighted diagrams (WeightedMermaid, WeightedDOT, WeightedSVG) draw
// them. The zero value counts nothing.
type Counts struct {
	n [numStates][numEvents]int
}

// Add counts one firing of event e in state from, and reports whether the
// table allows it; a transition the table does not have is not counted.
func (c *Counts) Add(from State, e Event) bool {
	if !Can(from, e) {
		return false
	}
	c.n[from][e]++
	return true
}

// Count returns how often event e fired in state from.
func (c *Counts) Count(from State, e Event) int {
	if from >= numStates || e >= numEvents {
		return 0
	}
	return c.n[from][e]
}

// Edge returns how often the edge e was taken: the sum over its events.
func (c *Counts) Edge(e Edge) int {
	n := 0
	for _, ev := range e.Events {
		n += c.Count(e.From, ev)
	}
	return n
}

// Total returns the number of transitions counted.
func (c *Counts) Total() int {
	n := 0
	for _, row := range c.n {
		for _, k := range row {
			n += k
		}
	}
	return n
}

// label is the edge's label in a weighted diagram: every event with its
// count, "expire ×40, reject ×2, give_up ×0".
func (c *Counts) label(e Edge) string {
	names := make([]string, len(e.Events))
	for i, ev := range e.Events {
		names[i] = fmt.Sprintf("%s ×%d", ev, c.Count(e.From, ev))
	}
	return strings.Join(names, ", ")
}

// firedLabel is the edge's label in a weighted SVG: the events that fired,
// with their counts ("fail ×12, give_up ×1"), or nothing.
func (c *Counts) firedLabel(e Edge) string {
	var names []string
	for _, ev := range e.Events {
		if n := c.Count(e.From, ev); n > 0 {
			names = append(names, fmt.Sprintf("%s ×%d", ev, n))
		}
	}
	return strings.Join(names, ", ")
}

// The colours of an edge never taken, in a weighted diagram.
const (
	faintStroke = "#bbbbbb"
	faintText   = "#999999"
)

// drawing is how one edge of a diagram is drawn. Every renderer draws the
// edges of Edges, in that order, from drawings: plain with a nil Counts,
// weighted otherwise.
type drawing struct {
	Edge
	label string
	// weighted is set in a weighted diagram; taken when the edge's count is
	// not zero, and weight is then the logarithm of its count over that of
	// the heaviest edge's, in (0, 1].
	weighted, taken bool
	weight          float64
}

func drawings(c *Counts) []drawing {
	edges := Edges()
	ds := make([]drawing, len(edges))
	heaviest := 0
	if c != nil {
		for _, e := range edges {
			heaviest = max(heaviest, c.Edge(e))
		}
	}
	for i, e := range edges {
		if c == nil {
			ds[i] = drawing{Edge: e, label: e.Label()}
			continue
		}
		n := c.Edge(e)
		ds[i] = drawing{Edge: e, label: c.label(e), weighted: true, taken: n > 0}
		if n > 0 {
			ds[i].weight = math.Log1p(float64(n)) / math.Log1p(float64(heaviest))
		}
	}
	return ds
}

// width scales the edge's weight to a line width between lo and hi.
func (d drawing) width(lo, hi float64) float64 { return lo + (hi-lo)*d.weight }

// svgStroke returns the SVG attributes of the edge's path.
func (d drawing) svgStroke() string {
	switch {
	case !d.weighted:
		return `stroke="#444" stroke-width="1.3" marker-end="url(#arrow)"`
	case d.taken:
		return fmt.Sprintf(`stroke="#444" stroke-width="%.2f" marker-end="url(#arrow-taken)"`, d.width(1.3, 7))
	}
	return `stroke="` + faintStroke + `" stroke-width="1" stroke-dasharray="5 4" marker-end="url(#arrow-faint)"`
}

// svgText returns the fill of the edge's label.
func (d drawing) svgText() string {
	if d.weighted && !d.taken {
		return faintText
	}
	return "#225"
}

// Start is one way a session begins: the state it starts in and when.
type Start struct {
	State State
	Label string
}

// Starts lists the states a session may start in (see NewData): Valid with
// a token, Expired without one.
func Starts() []Start {
	return []Start{{InitialState, "token"}, {Expired, "no token"}}
}

// Mermaid renders the machine as a Mermaid state diagram.
func Mermaid() string { return mermaid(nil) }

// WeightedMermaid renders the machine with the counts of c, as a Mermaid
// flowchart rather than a state diagram: Mermaid's state diagrams cannot
// style one transition, its flowcharts can (linkStyle). Each edge's label
// gives every event's count, its stroke width grows with the logarithm of
// the edge's count, and edges never taken are thin, grey and dashed.
func WeightedMermaid(c Counts) string { return mermaid(&c) }

func mermaid(c *Counts) string {
	var b strings.Builder
	drawn := drawings(c)
	if c == nil {
		b.WriteString("stateDiagram-v2\n")
		for _, st := range Starts() {
			fmt.Fprintf(&b, "    [*] --> %s: %s\n", st.State, st.Label)
		}
		for _, d := range drawn {
			fmt.Fprintf(&b, "    %s --> %s: %s\n", d.From, d.To, d.label)
		}
		return b.String()
	}
	b.WriteString("flowchart LR\n")
	for _, st := range States() {
		fmt.Fprintf(&b, "    %s(%s)\n", st, st)
	}
	starts := Starts()
	for i, st := range starts {
		fmt.Fprintf(&b, "    start%d(( )) -->|%s| %s\n", i, st.Label, st.State)
		fmt.Fprintf(&b, "    style start%d fill:#222,stroke:#222\n", i)
	}
	for _, d := range drawn {
		fmt.Fprintf(&b, "    %s -->|%q| %s\n", d.From, d.label, d.To)
	}
	// Links are numbered in the order they were written: the starts first.
	for i, d := range drawn {
		if d.taken {
			fmt.Fprintf(&b, "    linkStyle %d stroke-width:%.1fpx\n", len(starts)+i, d.width(1, 8))
		} else {
			fmt.Fprintf(&b, "    linkStyle %d stroke:%s,stroke-width:1px,stroke-dasharray:4 3,color:%s\n", len(starts)+i, faintStroke, faintText)
		}
	}
	return b.String()
}

// DOT renders the machine as a Graphviz digraph.
func DOT() string { return dot(nil) }

// WeightedDOT renders the machine with the counts of c as a Graphviz
// digraph: each edge's label gives every event's count, its penwidth grows
// with the logarithm of the edge's count, and edges never taken are grey
// and dashed.
func WeightedDOT(c Counts) string { return dot(&c) }

func dot(c *Counts) string {
	var b strings.Builder
	b.WriteString("digraph session {\n    rankdir=LR;\n    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n    edge [fontname=\"Helvetica\", fontsize=10];\n")
	for i, st := range Starts() {
		fmt.Fprintf(&b, "    start%d [shape=point, width=0.15, label=\"\"];\n", i)
		fmt.Fprintf(&b, "    start%d -> %s [label=%q];\n", i, st.State, st.Label)
	}
	ds := drawings(c)
	if c == nil {
		// Events that fire in every state but the one they lead to
		// (set_token, adopt, revoke) come from one "any state" node: drawn
		// from each state, they crowd the picture and their labels land
		// between other edges.
		ds = anyState(&b, ds)
	}
	for _, d := range ds {
		attrs := ""
		switch {
		case !d.weighted:
		case d.taken:
			attrs = fmt.Sprintf(", penwidth=%.2f", d.width(1, 6))
		default:
			attrs = fmt.Sprintf(", color=%q, fontcolor=%q, style=dashed", faintStroke, faintText)
		}
		fmt.Fprintf(&b, "    %s -> %s [label=%q%s];\n", d.From, d.To, d.label, attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

// anyState writes an "any state" node with one dashed edge per destination
// of the events that fire in every other state, and returns the drawings
// without those events.
func anyState(b *strings.Builder, ds []drawing) []drawing {
	isAny := func(e Event) bool {
		var to State
		for _, d := range Edges() {
			for _, ev := range d.Events {
				if ev == e {
					to = d.To
				}
			}
		}
		for _, st := range States() {
			if st != to && !Can(st, e) {
				return false
			}
		}
		return true
	}
	byDest := map[State][]string{}
	var dests []State
	var out []drawing
	for _, d := range ds {
		var keep []Event
		for _, ev := range d.Events {
			if !isAny(ev) {
				keep = append(keep, ev)
				continue
			}
			if byDest[d.To] == nil {
				dests = append(dests, d.To)
			}
			if !slices.Contains(byDest[d.To], ev.String()) {
				byDest[d.To] = append(byDest[d.To], ev.String())
			}
		}
		if len(keep) > 0 {
			d.Events = keep
			d.label = d.Label()
			out = append(out, d)
		}
	}
	if len(dests) > 0 {
		b.WriteString("    any [shape=plaintext, label=\"any state\", fontcolor=\"#555555\"];\n")
	}
	for _, to := range dests {
		fmt.Fprintf(b, "    any -> %s [label=%q, style=dashed, color=\"#777777\", fontcolor=\"#555555\"];\n", to, strings.Join(byDest[to], ", "))
	}
	return out
}

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
func WeightedSVG(c Counts) string { return svg(&c) }

func svg(c *Counts) string {
	const (
		w, h     = 760.0, 620.0
		cx, cy   = w / 2, h/2 + 10
		radius   = 220.0
		boxW     = 110.0
		boxH     = 40.0
		bend     = 0.18 // curvature, as a share of the edge length
		fontSize = 13
	)
	n := float64(numStates)
	pos := make([][2]float64, numStates)
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
			label = c.firedLabel(e.Edge)
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
	for _, st := range States() {
		p := pos[st]
		fill := "#eef4ff"
		if st == Revoked {
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
