package diagram

import (
	"fmt"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// Mermaid renders the machine as a Mermaid state diagram.
func Mermaid() string { return mermaid(nil) }

// WeightedMermaid renders the machine with the counts of c, as a Mermaid
// flowchart rather than a state diagram: Mermaid's state diagrams cannot
// style one transition, its flowcharts can (linkStyle). Each edge's label
// gives every event's count, its stroke width grows with the logarithm of
// the edge's count, and edges never taken are thin, grey and dashed.
func WeightedMermaid(c states.Counts) string { return mermaid(&c) }

func mermaid(c *states.Counts) string {
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
	for _, st := range states.States() {
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
