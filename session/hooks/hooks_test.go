package hooks

import (
	"slices"
	"testing"

	"github.com/authfsm/authfsm/audit"
)

// TestChain: every hook of every value is called, in the order given, and
// a nil field is skipped.
func TestChain(t *testing.T) {
	var got []string
	first := Hooks{
		Opened:      func(i SessionInfo) { got = append(got, "first opened "+i.Session) },
		RequestDone: func(RequestDone) { got = append(got, "first done") },
	}
	second := Hooks{
		Opened:     func(i SessionInfo) { got = append(got, "second opened "+i.Session) },
		Transition: func(audit.Record) { got = append(got, "second transition") },
	}
	c := Chain(first, Hooks{}, second)
	c.Opened(SessionInfo{Session: "a"})
	c.RequestDone(RequestDone{})
	c.Transition(audit.Record{})
	want := []string{"first opened a", "second opened a", "first done", "second transition"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if c.Closed != nil || c.StoreError != nil || c.Throttled != nil {
		t.Error("a hook no value sets is not nil")
	}
}
