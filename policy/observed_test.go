package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// TestObservedWords: what a client observes without a token response is
// worded once, here, for the runtime's client and the simulator's model:
// a request its deadline ended is an unanswered, sent, transient outcome
// that matches context.DeadlineExceeded, and a 2xx body that is no token
// response says why, matching ErrNotTokenResponse.
func TestObservedWords(t *testing.T) {
	if !errors.Is(policy.ErrNoAnswer, context.DeadlineExceeded) || policy.ErrNoAnswer.Error() != "no answer before the request deadline" {
		t.Errorf("ErrNoAnswer = %q", policy.ErrNoAnswer)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := policy.NoAnswer(at)
	if v := policy.Classify(o); !o.Sent || !o.At.Equal(at) || v.Class != policy.Transient || v.Cause != "no answer before the request deadline" {
		t.Errorf("NoAnswer: %+v, classified %+v", o, v)
	}
	for err, want := range map[error]string{
		policy.ErrHTMLBody:                    "not a token response: body is an HTML or XML page",
		policy.ErrMalformedJSON:               "not a token response: malformed JSON",
		policy.NotTokenResponse("empty body"): "not a token response: empty body",
	} {
		if err.Error() != want || !errors.Is(err, policy.ErrNotTokenResponse) {
			t.Errorf("%q: want %q, matching ErrNotTokenResponse", err, want)
		}
	}
}

// TestThrottleRandIsOneStream: the runtime's throttle and the simulator's
// draw one stream from one seed.
func TestThrottleRandIsOneStream(t *testing.T) {
	a, b := policy.ThrottleRand(7), policy.ThrottleRand(7)
	for range 5 {
		if x, y := a.Uint64(), b.Uint64(); x != y {
			t.Fatalf("two sources seeded with 7 drew %d and %d", x, y)
		}
	}
	if policy.ThrottleRand(8).Uint64() == policy.ThrottleRand(7).Uint64() {
		t.Errorf("seeds 7 and 8 drew the same first number")
	}
}
