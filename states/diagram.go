package states

import (
	"fmt"
	"math"
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
func Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	for _, st := range Starts() {
		fmt.Fprintf(&b, "    [*] --> %s: %s\n", st.State, st.Label)
	}
	for _, e := range Edges() {
		fmt.Fprintf(&b, "    %s --> %s: %s\n", e.From, e.To, e.Label())
	}
	return b.String()
}

// DOT renders the machine as a Graphviz digraph.
func DOT() string {
	var b strings.Builder
	b.WriteString("digraph session {\n    rankdir=LR;\n    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n    edge [fontname=\"Helvetica\", fontsize=10];\n")
	for i, st := range Starts() {
		fmt.Fprintf(&b, "    start%d [shape=point, width=0.15, label=\"\"];\n", i)
		fmt.Fprintf(&b, "    start%d -> %s [label=%q];\n", i, st.State, st.Label)
	}
	for _, e := range Edges() {
		fmt.Fprintf(&b, "    %s -> %s [label=%q];\n", e.From, e.To, e.Label())
	}
	b.WriteString("}\n")
	return b.String()
}

// SVG renders the machine as a self-contained SVG picture: states on a
// circle in declaration order, edges as curves labelled with their events,
// each start state marked by a dot and a labelled arrow.
func SVG() string {
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
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#fff"/>`+"\n", w, h)
	var labels strings.Builder
	for _, e := range Edges() {
		p, q := pos[e.From], pos[e.To]
		if e.From == e.To {
			// A loop above the box.
			x, y := p[0], p[1]-boxH/2
			fmt.Fprintf(&b, `<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#444" stroke-width="1.3" marker-end="url(#arrow)"/>`+"\n",
				x-20, y, x-45, y-55, x+45, y-55, x+20, y)
			fmt.Fprintf(&labels, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle" fill="#225">%s</text>`+"\n", x, y-50, fontSize, e.Label())
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
		fmt.Fprintf(&b, `<path d="M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f" fill="none" stroke="#444" stroke-width="1.3" marker-end="url(#arrow)"/>`+"\n", x1, y1, mx, my, x2, y2)
		// Label at t=0.4 of the curve, nearer the source: edges that cross the
		// middle of the circle then keep their labels apart.
		const t = 0.4
		lx := (1-t)*(1-t)*x1 + 2*t*(1-t)*mx + t*t*x2
		ly := (1-t)*(1-t)*y1 + 2*t*(1-t)*my + t*t*y2
		fmt.Fprintf(&labels, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle" fill="#225" stroke="#fff" stroke-width="4" paint-order="stroke">%s</text>`+"\n", lx, ly+4, fontSize, e.Label())
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
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#222">%s</text>`+"\n", p[0]-boxW/2-34, p[1]-6, st.Label)
	}
	b.WriteString(labels.String())
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
