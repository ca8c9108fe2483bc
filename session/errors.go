package session

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// ErrRevoked is matched (with errors.Is) by the *RevokedError that Token
// returns once the authorization server has refused the grant or Revoke was
// called. Only SetToken (a re-login) or a fallback grant brings the session
// back.
var ErrRevoked = errors.New("session: revoked")

// ErrMisconfigured is matched (with errors.Is), besides ErrRevoked, by the
// *RevokedError of a session stopped because the authorization server
// refused the client itself (invalid_client, unauthorized_client): the
// client id, secret or grant settings are wrong, and a re-login will not
// help until they are fixed.
var ErrMisconfigured = errors.New("session: client misconfigured")

// ErrClosed is returned by Token and SetToken after Close.
var ErrClosed = errors.New("session: closed")

// ErrNoRefreshToken is returned by a refresh_token grant when the session
// holds no refresh token. It is no refusal: a Session turns to its fallback
// grant, if any, and otherwise waits, unrevoked, for a pair from outside —
// SetToken, or the first pair another process of its family publishes —
// while Token fails with a *RefreshError whose cause says so ("no token
// yet: seed it with SetToken …") and which unwraps to this error.
var ErrNoRefreshToken = errors.New("session: no refresh token")

// ErrNoToken is returned by a Store's Load when it holds no token.
var ErrNoToken = errors.New("session: no stored token")

// RevokedError says why a session is revoked. It matches ErrRevoked.
type RevokedError struct {
	// Cause is the reason: the server's refusal ("400 invalid_grant", with a
	// note when a lost response probably consumed the refresh token; "400
	// invalid_request: the same refusal 3 times in a row") or "revoked by
	// the application".
	Cause string
	// Misconfigured reports that the server refused the client itself
	// (invalid_client, unauthorized_client), not the grant: the session
	// stopped, and its configuration must be fixed.
	Misconfigured bool
	// URL, Status, Code, Description and ErrorURI are the refusing answer's,
	// when the server refused (the description and URI scrubbed of every
	// secret the session knows).
	URL               string
	Status            int
	Code, Description string
	ErrorURI          string
	// At is when the error was returned.
	At time.Time
}

// Error reads like "session: revoked: 400 invalid_grant (refresh token
// expired)" or, for a refused client, "session: stopped, client
// misconfigured: 401 invalid_client: client misconfigured (Client
// authentication failed) from https://auth.example/token; check the client
// id, secret and grant settings".
func (e *RevokedError) Error() string {
	var b strings.Builder
	if e.Misconfigured {
		b.WriteString("session: stopped, client misconfigured: ")
	} else {
		b.WriteString("session: revoked: ")
	}
	b.WriteString(e.Cause)
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if e.ErrorURI != "" {
		fmt.Fprintf(&b, " (see %s)", e.ErrorURI)
	}
	if e.URL != "" {
		b.WriteString(" from ")
		b.WriteString(e.URL)
	}
	if e.Misconfigured {
		b.WriteString("; check the client id, secret and grant settings")
	}
	return b.String()
}

// Is reports whether target is ErrRevoked, or ErrMisconfigured for a
// refused client.
func (e *RevokedError) Is(target error) bool {
	return target == ErrRevoked || (e.Misconfigured && target == ErrMisconfigured)
}

// EndpointError is one failed request to the token endpoint, or to
// another endpoint of the authorization server, as a Refresher observed
// it: what a Refresher returns (oauth.Client's Refresh, Revoke, the
// logins and oauth.Discover do) so that the session classifies the
// failure by its status and OAuth2 error code. It carries what
// classification needs and nothing secret: the response body is never
// kept, only the OAuth2 error code and description.
type EndpointError struct {
	// URL is the token endpoint, or, with Document, the metadata document
	// that discovery fetched.
	URL string
	// Status is the HTTP status, or 0 when no response arrived.
	Status int
	// Code and Description are the OAuth2 error body's "error" and
	// "error_description" members (RFC 6749 §5.2), when the body was one.
	Code, Description string
	// Challenge is the auth-scheme of the answer's WWW-Authenticate header
	// ("Basic", "Bearer"), without its parameters; empty when there was none.
	Challenge string
	// ErrorURI is the error body's "error_uri" member, cleaned like
	// Description.
	ErrorURI string
	// RetryAfter is the raw Retry-After header.
	RetryAfter string
	// Sent reports whether the request was written in full (httptrace's
	// WroteRequest), so the server may have acted on it.
	Sent bool
	// At is when the outcome was observed.
	At time.Time
	// Err is the transport error (Status 0) or what is wrong with a 2xx body.
	Err error
	// Document reports that URL is a discovery document (oauth.Discover),
	// not a token endpoint; the message says so.
	Document bool
}

// Error implements error.
func (e *EndpointError) Error() string {
	var b strings.Builder
	if e.Document {
		b.WriteString("session: discovery document ")
	} else {
		b.WriteString("session: token endpoint ")
	}
	b.WriteString(e.URL)
	if e.Status != 0 {
		b.WriteString(" answered ")
		b.WriteString(policy.StatusText(e.Status))
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
		if e.Description != "" {
			fmt.Fprintf(&b, " (%s)", e.Description)
		}
		if e.ErrorURI != "" {
			fmt.Fprintf(&b, " (see %s)", e.ErrorURI)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *EndpointError) Unwrap() error { return e.Err }

// Outcome returns the outcome for a policy.Classifier.
func (e *EndpointError) Outcome() policy.Outcome {
	return policy.Outcome{Status: e.Status, ErrorCode: e.Code, Description: e.Description, RetryAfter: e.RetryAfter,
		Challenge: e.Challenge, Err: e.Err, Sent: e.Sent, At: e.At}
}

// RefreshError is returned by Token when no usable token is available
// because refreshing failed (transiently: the session keeps trying on its
// policy's schedule, or gave up this cycle and starts another on the next
// demand).
type RefreshError struct {
	// Cause is the classified cause of the last failed attempt: "502 Bad
	// Gateway", "429 Too Many Requests", "connection refused", …
	Cause string
	// URL is the token endpoint, when the refresher reported one.
	URL string
	// Status, Code, Description and ErrorURI are the last answer's HTTP
	// status and OAuth2 error, when there was one.
	Status            int
	Code, Description string
	ErrorURI          string
	// RetryAfter is the wait the server asked for, or 0.
	RetryAfter time.Duration
	// Attempt is the number of the failed attempt in the current cycle.
	Attempt int
	// NextAt is when the next attempt is due; zero when the policy gave up
	// (the next demand starts a new cycle) or the next attempt is in flight.
	NextAt time.Time
	// InFlight reports that the next attempt is under way (or another
	// process of the token family is refreshing).
	InFlight bool
	// At is when the error was returned; the message's relative times are
	// measured from it.
	At time.Time
	// TokenValid reports whether the access token was still valid at At
	// (it is then served, so a caller sees this only with no token at all).
	TokenValid bool
	// Expiry is the access token's expiry, or zero when the session never
	// held one.
	Expiry time.Time
	// Err is the refresher's error for the last attempt.
	Err error
}

// Error reads like "session: token refresh failed: 502 Bad Gateway from
// https://auth.example/oauth/token (attempt 3, next in 4s; access token
// expired 12s ago)".
func (e *RefreshError) Error() string {
	var b strings.Builder
	b.WriteString("session: token refresh failed: ")
	b.WriteString(e.Cause)
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if e.URL != "" {
		b.WriteString(" from ")
		b.WriteString(e.URL)
	}
	fmt.Fprintf(&b, " (attempt %d, ", e.Attempt)
	switch {
	case e.InFlight:
		b.WriteString("the next attempt is under way")
	case e.NextAt.IsZero():
		b.WriteString("policy gave up; the next demand starts a new cycle")
	default:
		fmt.Fprintf(&b, "next in %v", roundDuration(e.NextAt.Sub(e.At)))
	}
	switch {
	case e.Expiry.IsZero():
		b.WriteString("; no access token")
	case e.TokenValid:
		fmt.Fprintf(&b, "; access token valid for %v more", roundDuration(e.Expiry.Sub(e.At)))
	case e.At.Before(e.Expiry):
		b.WriteString("; access token rejected by the resource server")
	default:
		fmt.Fprintf(&b, "; access token expired %v ago", roundDuration(e.At.Sub(e.Expiry)))
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns Err.
func (e *RefreshError) Unwrap() error { return e.Err }

// roundDuration keeps messages readable: whole seconds above ten seconds,
// milliseconds below.
func roundDuration(d time.Duration) time.Duration {
	if d < 0 {
		d = 0
	}
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// ErrTokenRejected is matched (with errors.Is) by the *RejectedError that
// RejectionFrom finds on a Transport's 401 when a resource server refuses a
// token that a refresh delivered moments ago, and by the *RefreshError that
// Token returns (and Status().LastError holds) in the backoff that follows.
var ErrTokenRejected = errors.New("session: token rejected by the resource server")

// RejectedError says that a resource server refused (401) a token that the
// session had obtained moments ago in answer to an earlier rejection. Such
// a server most likely refuses every token of this client — a wrong
// audience or scope, a clock skewed against the token's nbf or iat — so the
// session counts the rejection as a failed refresh attempt and the retry
// policy paces the next token request: an API that refuses every token
// cannot cause a storm of token requests. It matches ErrTokenRejected.
//
// Transport still returns the 401 itself, whose body says why; the
// RejectedError travels with it (RejectionFrom), and the *RefreshError of
// the backoff that follows wraps it (its Err).
type RejectedError struct {
	// URL is the refused request's URL without its query or user info,
	// when the Transport saw the rejection.
	URL string
	// Status is the resource server's status (401), when known.
	Status int
	// Challenge is the WWW-Authenticate header of the answer, cleaned of
	// control characters and cut short, when there was one.
	Challenge string
	// NextAt is when the next refresh attempt is due; zero when the policy
	// gave up (the next demand starts a new cycle).
	NextAt time.Time
	// At is when the rejection was seen.
	At time.Time
}

// Error reads like "session: the resource server rejected a token issued
// moments ago too: 401 Unauthorized from https://api.example/v1/items
// (WWW-Authenticate: Bearer error="invalid_token"); next refresh in 2s,
// paced by the retry policy".
func (e *RejectedError) Error() string {
	var b strings.Builder
	b.WriteString("session: the resource server rejected a token issued moments ago too")
	if e.Status != 0 {
		b.WriteString(": ")
		b.WriteString(policy.StatusText(e.Status))
	}
	if e.URL != "" {
		b.WriteString(" from ")
		b.WriteString(e.URL)
	}
	if e.Challenge != "" {
		fmt.Fprintf(&b, " (WWW-Authenticate: %s)", e.Challenge)
	}
	if e.NextAt.IsZero() {
		b.WriteString("; the retry policy gave up, the next demand starts a new cycle")
	} else {
		fmt.Fprintf(&b, "; next refresh in %v, paced by the retry policy", roundDuration(e.NextAt.Sub(e.At)))
	}
	return b.String()
}

// Is reports whether target is ErrTokenRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrTokenRejected }

// cause is the audit cause of a rejection the Transport saw.
func (e *RejectedError) cause() string {
	if e.Status == 0 {
		return ""
	}
	c := policy.StatusText(e.Status) + " from " + e.URL
	if e.Challenge != "" {
		c += " (WWW-Authenticate: " + e.Challenge + ")"
	}
	return c
}
