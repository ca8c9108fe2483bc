package states

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/policy"
)

// TestReasonNames: every reason has a distinct name that parses back and
// round-trips through JSON, and a cause in words that is not its name.
func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := range numReasons {
		name := r.String()
		if name == "" || seen[name] || strings.HasPrefix(name, "reason(") {
			t.Errorf("reason %d: name %q", r, name)
		}
		seen[name] = true
		if got, err := ParseReason(name); err != nil || got != r {
			t.Errorf("ParseReason(%q) = %v, %v", name, got, err)
		}
		b, _ := json.Marshal(r)
		var back Reason
		if err := json.Unmarshal(b, &back); err != nil || back != r {
			t.Errorf("%s: JSON %s decodes to %v, %v", r, b, back, err)
		}
		if r != ReasonNone && r.Format("") == "" && r != ReasonTransient && r != ReasonRefused &&
			r != ReasonMisconfigured && r != ReasonFallbackFailed {
			t.Errorf("%s: no words without a detail", r)
		}
	}
	if _, err := ParseReason("nonsense"); err == nil {
		t.Error("ParseReason accepted an unknown name")
	}
	if got := Reason(200).String(); got != "reason(200)" {
		t.Errorf("unknown reason's name %q", got)
	}
}

// TestCauseWords pins the words that errors, logs, audit records and the
// simulator's reports share.
func TestCauseWords(t *testing.T) {
	for _, tc := range []struct {
		tr   Transition
		want string
	}{
		{Transition{Reason: ReasonAdopted, Generation: 3}, "pair published by another process (generation 3)"},
		{Transition{Reason: ReasonAdopted}, "pair saved to the store by another process"},
		{Transition{Reason: ReasonStoreDown, Detail: "dial tcp: refused"}, "shared store unreachable: dial tcp: refused"},
		{Transition{Reason: ReasonStoreDown}, "shared store unreachable"},
		{Transition{Reason: ReasonThrottled}, policy.ThrottledCause},
		{Transition{Reason: ReasonRejected}, "access token rejected by the resource server"},
		{Transition{Reason: ReasonRejected, Detail: "401 from https://api"}, "401 from https://api"},
		{Transition{Reason: ReasonRevokeCalled}, "revoked by the application"},
		{Transition{Reason: ReasonSetToken}, "token set by the application"},
		{Transition{Reason: ReasonCrashedHolder}, CrashedHolderCause},
		{Transition{Reason: ReasonFallbackOrphan}, "fallback grant: " + CrashedHolderCause},
		{Transition{Reason: ReasonTransient, Detail: "502 Bad Gateway"}, "502 Bad Gateway"},
	} {
		if got := tc.tr.Cause(); got != tc.want {
			t.Errorf("%v %q: %q, want %q", tc.tr.Reason, tc.tr.Detail, got, tc.want)
		}
	}
}
