// Package diagram draws the session machine of package states: its table as
// a Mermaid state diagram, a Graphviz digraph or a self-contained SVG
// picture (Mermaid, DOT, SVG), and, weighted by how often each transition
// fired (states.Counts, as audit.Conform counts them from an audit log or a
// simulator trace), the same pictures with each edge drawn by its count
// (WeightedMermaid, WeightedDOT, WeightedSVG).
//
// Every renderer is a pure function of the table and the counts, and its
// output is byte-stable: docs/diagrams holds what `go generate ./...`
// makes of it, and `authfsm diagram` and `authfsm audit diagram` print it.
package diagram
