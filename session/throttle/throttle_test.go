package throttle

import (
	"errors"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// TestNew: a spec that does not build is an error; a throttle of kind
// none lets every attempt through, whatever was recorded.
func TestNew(t *testing.T) {
	var se *policy.ThrottleSpecError
	if _, err := New(policy.ThrottleSpec{Kind: "sometimes"}, 1); !errors.As(err, &se) {
		t.Errorf("New of an unknown kind = %v, want a *policy.ThrottleSpecError", err)
	}
	th, err := New(policy.ThrottleSpec{Kind: policy.ThrottleNone}, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		th.Record(now, false)
		if !th.Allow(now.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("attempt %d kept back by a throttle of kind none", i)
		}
	}
}
