package states

import (
	"testing"

	"github.com/authfsm/authfsm/policy"
)

// TestFallbackAfterARefusal: the fallback grant follows a final refusal of
// the refresh token, but not a refusal of the client when the fallback
// authenticates as the same client (it would be refused the same way), nor
// a suspect refusal that has not repeated yet, nor anything transient.
func TestFallbackAfterARefusal(t *testing.T) {
	classify := func(status int, code string) policy.Verdict {
		return policy.Classify(policy.Outcome{Status: status, ErrorCode: code})
	}
	invalidRequest := classify(400, "invalid_request")
	for _, tc := range []struct {
		name       string
		v          policy.Verdict
		suspects   uint8  // suspect refusals met in a row before
		cause      string // the cause they had
		sameClient bool
		final, fb  bool
	}{
		{"invalid_grant", classify(400, "invalid_grant"), 0, "", true, true, true},
		{"invalid_client, the fallback is the same client", classify(401, "invalid_client"), 0, "", true, true, false},
		{"unauthorized_client, the fallback is the same client", classify(400, "unauthorized_client"), 0, "", true, true, false},
		{"invalid_client, the fallback is another client", classify(401, "invalid_client"), 0, "", false, true, true},
		{"a first invalid_request", invalidRequest, 0, "", true, false, false},
		{"a second invalid_request", invalidRequest, 1, invalidRequest.Cause, true, false, false},
		{"a third invalid_request", invalidRequest, 2, invalidRequest.Cause, true, true, true},
		{"a third invalid_request after other ones", invalidRequest, 2, "401 invalid_request", true, false, false},
		{"a 502", classify(502, ""), 2, invalidRequest.Cause, true, false, false},
		{"Hydra's JSON 500", classify(500, "server_error"), 0, "", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewData(1, epoch, epoch)
			d.Suspects, d.Cause = tc.suspects, tc.cause
			for _, fallback := range []bool{false, true} {
				m := NewMachine(Config{Fallback: fallback})
				if got := m.Final(&d, tc.v); got != tc.final {
					t.Errorf("Final = %v, want %v", got, tc.final)
				}
				if got, want := m.Fallback(&d, tc.v, tc.sameClient), tc.fb && fallback; got != want {
					t.Errorf("Fallback with a fallback grant %v = %v, want %v", fallback, got, want)
				}
			}
		})
	}
}
