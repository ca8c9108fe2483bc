package sim

import (
	"errors"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Outcome codes: what the client observes when the refresh in flight ends.
// Status faults get a code each (codeFault + the fault's index), so that
// every answer's verdict is classified once per run, not once per event.
const (
	codeOK               uint32 = iota // a token response
	codeInvalidGrant                   // the server's own 400 invalid_grant
	codeTimeout                        // no answer within request_timeout
	codeRefused                        // connection refused
	codeLost                           // the refresh happened, the client sees a proxy's 502
	codeHTML                           // 200 with an HTML page
	codeMalformed                      // 200 with a broken JSON body
	codeOverload                       // 503 from a server over its capacity
	codeStoreDown                      // a round trip to the shared store failed
	codeStoreUnpublished               // the store went down before the new pair was published
	codeLeaseLost                      // the lease lapsed before the refresh was marked in flight
	codeOrphan                         // Machine.Orphaned: revoke rather than present a spent token
	codeThrottled                      // the shared throttle kept the attempt from being sent
	codeFault                          // first status-fault code
)

// Causes of the model's own failures, which the runtime's coordination
// reports in the same words.
const (
	causeStoreDown        = "shared store unreachable"
	causeStoreUnpublished = causeStoreDown + ": the new pair was not published"
	causeLeaseLost        = "refresh lease lost before the refresh was marked in flight"
)

// The transport and body errors the model's client observes, in the
// words of the runtime's session.Client (authfsm conform compares them).
var (
	errRefused   = errors.New("connection refused")
	errHTML      = errors.New("not a token response: body is an HTML or XML page")
	errMalformed = errors.New("not a token response: malformed JSON")
	errTimeout   = errors.New("no answer before the request deadline")
)

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
	set(codeTimeout, policy.Outcome{Err: errTimeout, Sent: true})
	set(codeRefused, policy.Outcome{Err: errRefused})
	set(codeLost, policy.Outcome{Status: 502, Sent: true})
	set(codeHTML, policy.Outcome{Status: 200, Err: errHTML, Sent: true})
	set(codeMalformed, policy.Outcome{Status: 200, Err: errMalformed, Sent: true})
	set(codeOverload, policy.Outcome{Status: 503, Sent: true})
	// Not token endpoint answers: the shared store's failures and the
	// machine's decision about a crashed holder's token.
	out[codeStoreDown] = answer{verdict: policy.Verdict{Class: policy.Transient, Cause: causeStoreDown}}
	// The refresh token was spent: the pair that replaced it is known only
	// to this process, so the in-flight mark must stay.
	out[codeStoreUnpublished] = answer{verdict: policy.Verdict{Class: policy.Transient, Cause: causeStoreUnpublished, MaybeProcessed: true}}
	out[codeLeaseLost] = answer{verdict: policy.Verdict{Class: policy.Transient, Cause: causeLeaseLost}}
	// The one revocation the server does not pronounce: the machine decides
	// it rather than present a token a vanished holder may have spent
	// (states.CrashedHolderCause), so it counts as a refusal.
	out[codeOrphan] = answer{verdict: policy.Verdict{Class: policy.Permanent, Cause: states.CrashedHolderCause}, refusal: true}
	// Not sent: a transient failure, as session.refresh concludes it.
	out[codeThrottled] = answer{verdict: policy.Verdict{Class: policy.Transient, Cause: policy.ThrottledCause}}
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
