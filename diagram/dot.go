package diagram

import (
	"fmt"
	"slices"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// DOT renders the machine as a Graphviz digraph.
func DOT() string { return dot(nil) }

// WeightedDOT renders the machine with the counts of c as a Graphviz
// digraph: each edge's label gives every event's count, its penwidth grows
// with the logarithm of the edge's count, and edges never taken are grey
// and dashed.
func WeightedDOT(c states.Counts) string { return dot(&c) }

func dot(c *states.Counts) string {
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
	isAny := func(e states.Event) bool {
		var to states.State
		for _, d := range Edges() {
			for _, ev := range d.Events {
				if ev == e {
					to = d.To
				}
			}
		}
		for _, st := range states.States() {
			if st != to && !states.Can(st, e) {
				return false
			}
		}
		return true
	}
	byDest := map[states.State][]string{}
	var dests []states.State
	var out []drawing
	for _, d := range ds {
		var keep []states.Event
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
