package diagram

import (
	"fmt"
	"math"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// Edge is one arrow of the diagram: every event that leads from From to To.
type Edge struct {
	From, To states.State
	Events   []states.Event
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
// source state and then by the destination's first appearance in states.Table, so
// the diagrams are byte-stable.
func Edges() []Edge {
	var edges []Edge
	for _, from := range states.States() {
		for _, d := range states.Table {
			e, err := states.ParseEvent(d.Name)
			if err != nil {
				continue // the table names only events that parse
			}
			to, ok := states.Next(from, e)
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

func indexEdge(edges []Edge, from, to states.State) int {
	for i, e := range edges {
		if e.From == from && e.To == to {
			return i
		}
	}
	return -1
}

// Count returns how often the edge was taken, as c counted it: the sum
// over its events.
func (e Edge) Count(c *states.Counts) int {
	n := 0
	for _, ev := range e.Events {
		n += c.Count(e.From, ev)
	}
	return n
}

// label is the edge's label in a weighted diagram: every event with its
// count, "expire ×40, reject ×2, give_up ×0".
func label(c *states.Counts, e Edge) string {
	names := make([]string, len(e.Events))
	for i, ev := range e.Events {
		names[i] = fmt.Sprintf("%s ×%d", ev, c.Count(e.From, ev))
	}
	return strings.Join(names, ", ")
}

// firedLabel is the edge's label in a weighted SVG: the events that fired,
// with their counts ("fail ×12, give_up ×1"), or nothing.
func firedLabel(c *states.Counts, e Edge) string {
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

func drawings(c *states.Counts) []drawing {
	edges := Edges()
	ds := make([]drawing, len(edges))
	heaviest := 0
	if c != nil {
		for _, e := range edges {
			heaviest = max(heaviest, e.Count(c))
		}
	}
	for i, e := range edges {
		if c == nil {
			ds[i] = drawing{Edge: e, label: e.Label()}
			continue
		}
		n := e.Count(c)
		ds[i] = drawing{Edge: e, label: label(c, e), weighted: true, taken: n > 0}
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
	State states.State
	Label string
}

// Starts lists the states a session may start in (see states.NewData):
// Valid with a token, Expired without one.
func Starts() []Start {
	return []Start{{states.InitialState, "token"}, {states.Expired, "no token"}}
}
