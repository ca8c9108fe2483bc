package sim

import (
	"errors"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Outcome codes: what the client observes when the refresh in flight ends.
// Status faults get a code each (codeFault + the fault's index), so that
// every answer's verdict is classified once per run, not once per event.
const (
	codeOK           uint32 = iota // a token response
	codeInvalidGrant               // the server's own 400 invalid_grant
	codeTimeout                    // no answer within request_timeout
	codeRefused                    // connection refused
	codeLost                       // the refresh happened, the client sees a proxy's 502
	codeHTML                       // 200 with an HTML page
	codeMalformed                  // 200 with a broken JSON body
	codeOverload                   // 503 from a server over its capacity
	codeThrottled                  // the shared throttle kept the attempt from being sent
	codeNoRefresh                  // the client holds no refresh token to present
	codeFault                      // first status-fault code
)

// errRefused is a refused connection as the model's client observes it,
// in the words of the system's error (syscall.ECONNREFUSED); the other
// outcomes it observes are worded by policy, as the runtime's
// oauth.Client words them (authfsm conform compares them).
var errRefused = errors.New("connection refused")

// answer is one outcome code's classification, computed once per run.
type answer struct {
	verdict policy.Verdict
	// refusal reports that the authorization server explicitly refused the
	// grant (a permanent OAuth2 error code, with any status): the only
	// answers that may revoke a session (docs/DESIGN.md, invariant 1). A 401 or
	// 403 without such a code is not one.
	refusal bool
	// accepted reports that the answer counts as an accept for the shared
	// throttle (policy.Accepted): the server processed the request.
	accepted bool
}

// classify is policy.Classify; tests replace it with a broken classifier
// to prove that the invariant checks and the fuzzer catch the breakage.
var classify = policy.Classify

// answers classifies every outcome the scenario can produce with
// policy.Classify, the classification the runtime uses.
func answers(sc *Scenario) []answer {
	out := make([]answer, int(codeFault)+len(sc.Server.Faults))
	set := func(c uint32, o policy.Outcome) {
		o.At = epoch
		out[c] = answer{verdict: classify(o), refusal: policy.IsPermanentCode(o.ErrorCode), accepted: policy.Accepted(o)}
	}
	set(codeOK, policy.Outcome{Status: 200, Sent: true})
	set(codeInvalidGrant, policy.Outcome{Status: 400, ErrorCode: "invalid_grant", Sent: true})
	set(codeTimeout, policy.NoAnswer(epoch))
	set(codeRefused, policy.Outcome{Err: errRefused})
	set(codeLost, policy.Outcome{Status: 502, Sent: true})
	set(codeHTML, policy.Outcome{Status: 200, Err: policy.ErrHTMLBody, Sent: true})
	set(codeMalformed, policy.Outcome{Status: 200, Err: policy.ErrMalformedJSON, Sent: true})
	set(codeOverload, policy.Outcome{Status: 503, Sent: true})
	// Not sent: the shared throttle kept it back (fed as InThrottled).
	out[codeThrottled] = answer{verdict: policy.Verdict{Class: policy.Transient}}
	// Not sent: nothing to present (fed as InNoRefresh).
	out[codeNoRefresh] = answer{verdict: policy.Verdict{Class: policy.Transient}}
	for i, f := range sc.Server.Faults {
		if f.Kind != FaultStatus {
			continue
		}
		o := policy.Outcome{Status: f.Status, ErrorCode: f.Error, Description: f.Description, Sent: true}
		if o.ErrorCode == "" && (f.Status == 400 || f.Status == 401 || f.Status == 403) {
			o.ErrorCode = "invalid_request" // docs/SCENARIOS.md: a JSON OAuth2 error body
		}
		if f.RetryAfter > 0 {
			// Retry-After carries whole seconds; round up so the wait is honoured.
			o.RetryAfter = strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10)
		}
		set(codeFault+uint32(i), o)
	}
	return out
}
