package states

import (
	"fmt"
	"strconv"

	"github.com/authfsm/authfsm/policy"
)

// Reason says why a transition was made, or why the last attempt failed,
// as a typed value: tools read it (and Transition.Class, Transition.Sent)
// instead of parsing the English cause. The words of a cause are written
// here only, by Reason.Format; the runtime's errors, logs and audit records
// and the simulator's trace and report all show that text.
type Reason uint8

// The reasons. A reason's Detail (Transition.Detail, Data.Detail) carries
// what varies: the server's scrubbed words, an error, a lifetime.
const (
	// ReasonNone: no reason to give (a refresh that succeeded).
	ReasonNone Reason = iota
	// ReasonExpired: the access token's expiry passed.
	ReasonExpired
	// ReasonRefreshAhead: the refresh-ahead point was reached.
	ReasonRefreshAhead
	// ReasonDemanded: a caller asked for a token while the session had none.
	ReasonDemanded
	// ReasonRejected: a resource server refused the access token; the
	// detail is what it answered, when the driver knows.
	ReasonRejected
	// ReasonRejectedAgain: a token a rejection's refresh delivered moments
	// ago was rejected too (see FreshWindow); the detail is the answer.
	ReasonRejectedAgain
	// ReasonShortLived: the token endpoint issued a token living less than
	// MinLifetime, which died; the detail is its lifetime.
	ReasonShortLived
	// ReasonRetryDue: the scheduled retry is due.
	ReasonRetryDue
	// ReasonTransient: the attempt failed transiently (a 5xx, a 429, a
	// timeout, a proxy's page); the detail is the classified failure.
	ReasonTransient
	// ReasonRefused: the authorization server refused the grant; the
	// detail is its answer.
	ReasonRefused
	// ReasonMisconfigured: the authorization server refused the client
	// itself (invalid_client, unauthorized_client); the detail is its answer.
	ReasonMisconfigured
	// ReasonAnswerExpired: the token endpoint returned a token that had
	// expired already.
	ReasonAnswerExpired
	// ReasonExpiryStuck: the token endpoint returned a token whose expiry
	// did not advance.
	ReasonExpiryStuck
	// ReasonThrottled: the shared throttle kept the request from being sent.
	ReasonThrottled
	// ReasonStoreDown: the family's shared store could not be reached; the
	// detail is the error, when there is one.
	ReasonStoreDown
	// ReasonLeaseBusy: another process holds the family's refresh lease.
	ReasonLeaseBusy
	// ReasonLeaseLost: the refresh lease was lost before the refresh was
	// marked in flight; nothing was sent.
	ReasonLeaseLost
	// ReasonLeaseFree: the refresh lease lapsed (or was released) without a
	// new pair; this process takes over.
	ReasonLeaseFree
	// ReasonAdopted: another process of the family published a newer pair
	// (Transition.Generation says which).
	ReasonAdopted
	// ReasonSetToken: the application supplied a token (SetToken).
	ReasonSetToken
	// ReasonRevokeCalled: the application revoked the session (Revoke).
	ReasonRevokeCalled
	// ReasonCrashedHolder: a vanished lease holder may have spent the
	// refresh token, outside the server's reuse grace and without a
	// fallback grant: the session is revoked rather than risk the family.
	ReasonCrashedHolder
	// ReasonNoTokenYet: the session never held a token, and holds nothing
	// to refresh with (NoToken).
	ReasonNoTokenYet
	// ReasonNoRefreshToken: the session's access token has no refresh
	// token to replace it with (NoToken).
	ReasonNoRefreshToken
	// ReasonFallback: the refresh token was refused in this attempt and
	// the fallback grant (Config.Fallback) was used instead; the detail
	// says what was refused.
	ReasonFallback
	// ReasonFallbackClient: the authorization server refused the client
	// itself in this attempt (invalid_client) and the fallback grant, which
	// authenticates otherwise, was used instead; the detail is the refusal.
	ReasonFallbackClient
	// ReasonFallbackNoRefresh: the fallback grant was used because the
	// session holds no refresh token.
	ReasonFallbackNoRefresh
	// ReasonFallbackDead: the fallback grant was used because the refresh
	// token was refused earlier (only a new refresh token revives it).
	ReasonFallbackDead
	// ReasonFallbackOrphan: the fallback grant was used because a vanished
	// lease holder may have spent the refresh token, outside the server's
	// reuse grace (Machine.Orphaned).
	ReasonFallbackOrphan
	// ReasonFallbackFailed: the fallback grant failed; the detail says why
	// it was used and how it failed (Transition.Class, its class).
	ReasonFallbackFailed
	// ReasonLoggedOut: another process logged the family out: its pair was
	// removed from the family's store (session.Session.Logout, authfsm
	// logout), so this process stops serving it.
	ReasonLoggedOut
	// ReasonLogout: the application logged the session out
	// (session.Session.Logout): its pair is revoked at the authorization
	// server and removed from the store.
	ReasonLogout
	// ReasonLoginFailed: the session's own login ended without a pair; the
	// detail is its error.
	ReasonLoginFailed
	// ReasonLoggedIn: the session's own login obtained a pair; the detail
	// names the login, when the driver knows.
	ReasonLoggedIn

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone: "none", ReasonExpired: "expired", ReasonRefreshAhead: "refresh_ahead", ReasonDemanded: "demanded",
	ReasonRejected: "rejected", ReasonRejectedAgain: "rejected_again", ReasonShortLived: "short_lived",
	ReasonRetryDue: "retry_due", ReasonTransient: "transient", ReasonRefused: "refused",
	ReasonMisconfigured: "misconfigured", ReasonAnswerExpired: "answer_expired", ReasonExpiryStuck: "expiry_stuck",
	ReasonThrottled: "throttled", ReasonStoreDown: "store_down", ReasonLeaseBusy: "lease_busy",
	ReasonLeaseLost: "lease_lost", ReasonLeaseFree: "lease_free", ReasonAdopted: "adopted",
	ReasonSetToken: "set_token", ReasonRevokeCalled: "revoke_called", ReasonCrashedHolder: "crashed_holder",
	ReasonNoTokenYet: "no_token_yet", ReasonNoRefreshToken: "no_refresh_token", ReasonFallback: "fallback", ReasonFallbackClient: "fallback_client", ReasonFallbackNoRefresh: "fallback_no_refresh",
	ReasonFallbackDead:   "fallback_dead",
	ReasonFallbackOrphan: "fallback_orphan", ReasonFallbackFailed: "fallback_failed",
	ReasonLoggedOut: "logged_out", ReasonLogout: "logout", ReasonLoginFailed: "login_failed", ReasonLoggedIn: "logged_in",
}

// The fixed words of the causes.
const (
	// CrashedHolderCause is the cause of ReasonCrashedHolder.
	CrashedHolderCause = "refresh token probably consumed by a crashed process"
	// NoTokenYetCause is the cause of ReasonNoTokenYet.
	NoTokenYetCause = "no token yet: log in (SetToken, authfsm login), or let another process of the family publish the first pair"
	// NoRefreshTokenCause is the cause of ReasonNoRefreshToken.
	NoRefreshTokenCause = "no refresh token to refresh with: log in (SetToken, authfsm login), or let another process of the family publish a pair"
	// LoggedOutCause is the cause of ReasonLoggedOut.
	LoggedOutCause = "logged out by another process: the family's pair was removed from its store"
	// storeDownCause begins the cause of ReasonStoreDown.
	storeDownCause = "shared store unreachable"
)

// String returns the reason's name, as audit records carry it.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err == nil {
		*r = v
	}
	return err
}

// ParseReason returns the reason named name.
func ParseReason(name string) (Reason, error) {
	for i, n := range reasonNames {
		if n == name {
			return Reason(i), nil
		}
	}
	return 0, fmt.Errorf("states: unknown reason %q", name)
}

// Format returns the cause that r and detail make, as errors, logs, audit
// records and simulation reports show it. It is the only place the words
// are written.
func (r Reason) Format(detail string) string {
	return format(r, detail, 0)
}

// format is Format with the generation of an adopted pair (0: unknown).
func format(r Reason, detail string, gen uint64) string {
	switch r {
	case ReasonNone, ReasonTransient, ReasonRefused, ReasonMisconfigured, ReasonFallbackFailed:
		return detail
	case ReasonExpired:
		return "access token expired"
	case ReasonRefreshAhead:
		return "refresh-ahead point reached"
	case ReasonDemanded:
		return "token demanded"
	case ReasonRejected:
		return or(detail, "access token rejected by the resource server")
	case ReasonRejectedAgain:
		return or(detail, "access token rejected by the resource server") + ": a token issued moments ago was rejected too"
	case ReasonShortLived:
		return "token endpoint issued a token that lived " + detail + ", below the " + MinLifetime.String() + " floor"
	case ReasonRetryDue:
		return "retry due"
	case ReasonAnswerExpired:
		return "token endpoint returned an already expired token"
	case ReasonExpiryStuck:
		return "token endpoint returned a token whose expiry did not advance"
	case ReasonThrottled:
		return policy.ThrottledCause
	case ReasonLeaseLost:
		return "refresh lease lost before the refresh was marked in flight"
	case ReasonStoreDown:
		return joined(storeDownCause, ": ", detail)
	case ReasonLeaseBusy:
		return "another process holds the refresh lease"
	case ReasonLeaseFree:
		return "the refresh lease lapsed without a new pair"
	case ReasonAdopted:
		if gen == 0 {
			return "pair saved to the store by another process" // a store without generations
		}
		return "pair published by another process (generation " + strconv.FormatUint(gen, 10) + ")"
	case ReasonSetToken:
		return or(detail, "token set by the application")
	case ReasonRevokeCalled:
		return or(detail, "revoked by the application")
	case ReasonCrashedHolder:
		return joined(CrashedHolderCause, ": ", detail)
	case ReasonNoTokenYet:
		return NoTokenYetCause
	case ReasonNoRefreshToken:
		return NoRefreshTokenCause
	case ReasonFallbackNoRefresh:
		return "fallback grant: there is no refresh token"
	case ReasonFallback, ReasonFallbackClient:
		return "fallback grant after " + detail
	case ReasonFallbackDead:
		return "fallback grant: the refresh token was refused earlier"
	case ReasonFallbackOrphan:
		return "fallback grant: " + CrashedHolderCause
	case ReasonLoggedOut:
		return LoggedOutCause
	case ReasonLogout:
		return or(detail, "logged out by the application")
	case ReasonLoginFailed:
		return joined("login failed", ": ", detail)
	case ReasonLoggedIn:
		return or(detail, "logged in")
	}
	return joined(r.String(), ": ", detail)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func joined(a, sep, b string) string {
	if b == "" {
		return a
	}
	return a + sep + b
}

// failReason is the reason a failed attempt's verdict gives.
func failReason(v policy.Verdict) Reason {
	switch {
	case v.Class == policy.Permanent && v.Misconfigured:
		return ReasonMisconfigured
	case v.Class == policy.Permanent, v.Class == policy.Suspect:
		return ReasonRefused
	}
	return ReasonTransient
}
