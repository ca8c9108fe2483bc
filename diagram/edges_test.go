package diagram_test

import (
	"strings"
	"testing"

	"github.com/authfsm/authfsm/diagram"
	"github.com/authfsm/authfsm/states"
)

// TestEdgesAreTheTable: every (state, event) the table allows is drawn on
// exactly one edge, from that state to the table's destination, and no
// edge draws anything else.
func TestEdgesAreTheTable(t *testing.T) {
	drawn := map[[2]int]int{}
	for _, e := range diagram.Edges() {
		for _, ev := range e.Events {
			to, ok := states.Next(e.From, ev)
			if !ok || to != e.To {
				t.Errorf("edge %v -> %v draws %v, which the table sends to %v (%t)", e.From, e.To, ev, to, ok)
			}
			drawn[[2]int{int(e.From), int(ev)}]++
		}
	}
	for _, st := range states.States() {
		for _, d := range states.Table {
			ev, err := states.ParseEvent(d.Name)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if states.Can(st, ev) {
				want = 1
			}
			if got := drawn[[2]int{int(st), int(ev)}]; got != want {
				t.Errorf("%v in %v is drawn %d times, want %d", ev, st, got, want)
			}
		}
	}
}

// TestWeightedCounts: an edge's count is the sum over its events, and the
// weighted DOT labels every event with its count.
func TestWeightedCounts(t *testing.T) {
	var c states.Counts
	for range 3 {
		c.Add(states.Valid, states.Expire)
	}
	var found bool
	for _, e := range diagram.Edges() {
		if e.From == states.Valid && strings.Contains(e.Label(), states.Expire.String()) {
			found = true
			if got := e.Count(&c); got != 3 {
				t.Errorf("edge %s counts %d, want 3", e.Label(), got)
			}
		}
	}
	if !found {
		t.Fatal("no edge from valid draws expire")
	}
	if dot := diagram.WeightedDOT(c); !strings.Contains(dot, "expire ×3") {
		t.Errorf("WeightedDOT does not label expire ×3:\n%s", dot)
	}
}
