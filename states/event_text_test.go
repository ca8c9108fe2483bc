package states

import (
	"strings"
	"testing"
)

// TestEventText checks that every event's name parses back to the event, so
// that audit records holding events decode from their own JSON.
func TestEventText(t *testing.T) {
	for e := range numEvents {
		got, err := ParseEvent(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEvent(%q) = %v, %v", e.String(), got, err)
		}
		u := Event(99)
		b, _ := e.MarshalText()
		if err := u.UnmarshalText(b); err != nil || u != e {
			t.Errorf("text round trip of %v: %v, %v", e, u, err)
		}
	}
	for _, name := range []string{"", "Expire", "give-up", "event(99)", " expire"} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseEvent(name); err == nil || !strings.HasPrefix(err.Error(), "states: unknown event") {
				t.Errorf("ParseEvent(%q) = %v, want states: unknown event", name, err)
			}
			u := Revoke
			if err := u.UnmarshalText([]byte(name)); err == nil || u != Revoke {
				t.Errorf("UnmarshalText(%q) = %v and set %v; want an error and no change", name, err, u)
			}
		})
	}
}
