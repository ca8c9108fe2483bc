package states

// Counts says how often each event fired in each state, as counted from an
// audit log or a simulator trace (audit.Conform); the table gives each
// one's destination. Package diagram's weighted diagrams draw them. The
// zero value counts nothing.
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
