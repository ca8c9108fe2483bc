package sim

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/policy"
)

// TestAuthorizationServerAnswers: the simulator reads the authorization
// server's answers as the runtime does (session/answers_test.go), since
// both ask the same machine: a refused client stops at once when the
// fallback is the same client, an invalid_request revokes only when it
// repeats and never when it asks for a retry, and an OAuth2 error body is
// an answer, not a lost one.
func TestAuthorizationServerAnswers(t *testing.T) {
	const base = `{name: a, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s, policy: {kind: constant, initial: 10s, jitter: none}`
	for _, tc := range []struct {
		name     string
		src      string
		final    string
		requests int64
		cause    string // the cause of the last transition
	}{
		{"invalid_client with the same client's fallback", base + `, fallback: true},
			server: {faults: [{from: 59m, to: 2h, kind: status, status: 401, error: invalid_client}]}}`,
			"revoked", 1, "401 invalid_client: client misconfigured"},
		{"invalid_request once", base + `}, server: {faults: [{from: 59m, to: 1h0m5s, kind: status, status: 400}]}}`,
			"valid", 2, ""},
		{"invalid_request twice", base + `}, server: {faults: [{from: 59m, to: 1h0m15s, kind: status, status: 400, error: invalid_request}]}}`,
			"valid", 3, ""},
		{"the same invalid_request three times", base + `}, server: {faults: [{from: 59m, to: 2h, kind: status, status: 400}]}}`,
			"revoked", 3, "400 invalid_request: the same refusal 3 times in a row"},
		{"Hydra's storage conflicts", base + `}, server: {faults: [{from: 59m, to: 1h5m, kind: status, status: 400, error: invalid_request,
			description: "Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request."}]}}`,
			"valid", 31, ""},
		{"JSON 500 server_error, then invalid_grant", base + `}, server: {faults: [{from: 59m, to: 1h0m5s, kind: status, status: 500, error: server_error},
			{at: 1h0m5s, kind: revoke}]}}`,
			"revoked", 2, "400 invalid_grant"},
		{"a proxy's 500 page, then invalid_grant", base + `}, server: {faults: [{from: 59m, to: 1h0m5s, kind: status, status: 500},
			{at: 1h0m5s, kind: revoke}]}}`,
			"revoked", 2, "400 invalid_grant: refresh token probably consumed by a refresh whose answer was lost (500 Internal Server Error)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Run(mustParse(t, tc.src), Options{Trace: true})
			if len(res.Violations) > 0 {
				t.Errorf("invariants broken: %v", res.Violations)
			}
			if res.FinalState != tc.final || res.Stats.RefreshRequests != tc.requests {
				t.Errorf("final %s after %d refresh requests, want %s after %d", res.FinalState, res.Stats.RefreshRequests, tc.final, tc.requests)
			}
			if tc.cause == "" {
				return
			}
			if last := res.Trace[len(res.Trace)-1]; last.Cause != tc.cause {
				t.Errorf("last transition %s %q, want cause %q", last.Event, last.Cause, tc.cause)
			}
		})
	}
}

// TestTimelineShowsSuspectRefusals: an invalid_request that was retried is
// drawn in a colour of its own, which the legend explains.
func TestTimelineShowsSuspectRefusals(t *testing.T) {
	src := `{name: s, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s},
		server: {faults: [{from: 59m, to: 1h0m2s, kind: status, status: 400}]}}`
	for _, tc := range []struct {
		src  string
		want bool
	}{{src, true}, {strings.Replace(src, "status: 400", "status: 502", 1), false}} {
		res := Run(mustParse(t, tc.src), Options{Timeline: true})
		svg := TimelineSVG(res.Timeline)
		if got := strings.Contains(svg, classColor[policy.Suspect]) && strings.Contains(svg, ">refresh: suspect (an invalid_request"); got != tc.want {
			t.Errorf("%s: suspect drawn and explained %v, want %v", tc.src, got, tc.want)
		}
	}
}

// TestFaultDescriptionRoundTrip: a fault's description survives
// MarshalYAML (the fuzzer's and the shrinker's output), quotes, backslashes
// and non-ASCII text included.
func TestFaultDescriptionRoundTrip(t *testing.T) {
	const desc = `Failed to refresh token: "concurrent" \ requests – réessayez. Please retry the request.`
	sc := mustParse(t, `{name: d, duration: 2h, token: {ttl: 1h}, server: {faults: [{from: 1h, to: 1h1m, kind: status, status: 400,
		error: invalid_request, description: '`+desc+`'}]}}`)
	back, err := Parse("back.yaml", MarshalYAML(sc))
	if err != nil {
		t.Fatalf("%v\n%s", err, MarshalYAML(sc))
	}
	if got := back.Server.Faults[0].Description; got != desc {
		t.Errorf("description %q, want %q", got, desc)
	}
}

// TestLogTimelineOfSuspectRefusals: a log's timeline draws the retried
// invalid_request answers as the run's does, and the repeat that revoked
// as permanent.
func TestLogTimelineOfSuspectRefusals(t *testing.T) {
	sc := mustParse(t, `{name: s, duration: 2h, token: {ttl: 1h}, session: {refresh_ahead: 0s},
		server: {faults: [{from: 59m, to: 1h0m1s, kind: status, status: 502}, {from: 1h0m1s, to: 2h, kind: status, status: 400}]}}`)
	res := Run(sc, Options{Trace: true, Timeline: true})
	want := res.Timeline
	got := LogTimeline(want.name, want.sessions, want.duration, traceEntries(t, res.Trace))
	var classes []policy.Class
	for _, a := range want.attempts {
		classes = append(classes, a.Class)
	}
	if n := len(classes); n < 4 || classes[0] != policy.Transient {
		t.Fatalf("the run's attempts: %v, want 502s then invalid_request answers", classes)
	}
	if diff := cmp.Diff([]policy.Class{policy.Suspect, policy.Suspect, policy.Permanent}, classes[len(classes)-3:]); diff != "" {
		t.Errorf("the run's attempts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.attempts, got.attempts); diff != "" {
		t.Errorf("attempts (-run +log):\n%s", diff)
	}
}
