package policy

import (
	"strconv"
	"strings"
	"time"
)

// Class is what a refresh attempt's outcome means for the session.
type Class uint8

const (
	// OK means the attempt yielded a token.
	OK Class = iota
	// Transient means the attempt failed for a reason that may pass: a 5xx, a
	// timeout, a refused connection, a proxy's page in place of a token
	// response. The session retries on its policy's schedule.
	Transient
	// RateLimited means the server answered 429. It is transient; the
	// server's Retry-After, when present, sets the earliest next attempt.
	RateLimited
	// Permanent means the authorization server itself refused the grant: its
	// answer carries an RFC 6749 §5.2 error code such as invalid_grant (see
	// IsPermanentCode), whatever the status. Retrying cannot help; the
	// session is revoked. A 401 or 403 without such a code is Transient.
	Permanent
	// Suspect means an explicit refusal that a retry may still cure: the
	// authorization server's invalid_request, which real servers also send
	// for a passing storage conflict (see Classify). The session retries it
	// on its policy's schedule, as a Transient failure, and revokes only
	// when the same answer comes SuspectRepeats times in a row.
	Suspect
)

// SuspectRepeats is how many answers in a row a Suspect refusal takes to be
// final: the same answer (the same cause: status and error code) to that
// many attempts, with no other outcome between them, revokes the session as
// a Permanent one would. Three: against Ory Hydra v2.3.0 under load about
// one refresh in twenty met a storage conflict answered invalid_request,
// and the same refresh token sent again got a pair, so two conflicts in a
// row are plausible (one in 400) and three rare (one in 8000), while a
// request that is really malformed costs two more requests at the policy's
// pace. A new cycle does not reset the count, so a policy that gives up
// sooner cannot keep a malformed request alive for ever; any other outcome,
// a new token or a re-login does.
const SuspectRepeats = 3

var classNames = [...]string{OK: "ok", Transient: "transient", RateLimited: "rate_limited", Permanent: "permanent", Suspect: "suspect"}

// String returns the lower-case name of c.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Outcome is what one refresh attempt produced, as the caller observed it.
// It carries no secrets: the token endpoint client parses the body and
// reports only what classification needs.
type Outcome struct {
	// Status is the HTTP status code, or 0 when no response arrived.
	Status int
	// ErrorCode is the "error" member of an OAuth2 error body (RFC 6749
	// §5.2, JSON or form-encoded), or "" when the body was not one. It counts
	// with any status, a 2xx included.
	ErrorCode string
	// Description is the body's "error_description" member, or "". The
	// caller scrubs it of every secret the request carried (the session's
	// Client does, and cuts it to 400 runes) before a classifier sees it:
	// Classify never quotes it in the cause, but a custom classifier may.
	// It tells apart answers that share a code, such as an invalid_request
	// that asks for a retry.
	Description string
	// Challenge is the auth-scheme of the answer's WWW-Authenticate header
	// ("Basic", "Bearer"), or "". Only the scheme: Classify quotes it in the
	// cause, so it must not carry the header's parameters (it keeps only the
	// leading token characters of what it is given).
	Challenge string
	// RetryAfter is the raw Retry-After header value, if any.
	RetryAfter string
	// Err is the failure: a transport error (timeout, refused, DNS) when
	// Status is 0, or a body that is not a token response when Status is 2xx.
	Err error
	// Sent reports whether the request was written in full, so that the
	// server may have acted on it even though its answer never arrived.
	Sent bool
	// At is the instant the outcome was observed; an HTTP-date Retry-After is
	// measured from it.
	At time.Time
}

// Verdict is a classified outcome.
type Verdict struct {
	Class Class
	// RetryAfter is the server's requested wait (0 when none or unparsable).
	RetryAfter time.Duration
	// Cause says what failed, without secrets: "502 Bad Gateway",
	// "400 invalid_grant", "connection refused". Empty for OK.
	Cause string
	// Misconfigured reports a permanent refusal that blames the client's
	// own configuration rather than the grant: invalid_client (unknown
	// client, wrong secret or authentication method) or unauthorized_client
	// (the client may not use this grant). A new refresh token will not
	// help; fixing the client's registration or settings will.
	Misconfigured bool
	// MaybeProcessed reports that the server may have performed the refresh
	// although the client saw a failure: no answer came back after the
	// request was written (a timeout, a reset connection), or the answer is
	// not the server's own (a proxy's page, a 2xx that is not a token
	// response). A later invalid_grant then most likely means the refresh
	// token was consumed. An OAuth2 error body, of any status, is the
	// server's answer: it evaluated the request and handed out no pair.
	MaybeProcessed bool
}

// A Classifier maps an outcome to a verdict. Classify must be safe for
// concurrent use and must not retain o.
type Classifier interface {
	Classify(o Outcome) Verdict
}

// ClassifierFunc adapts a function to the Classifier interface.
type ClassifierFunc func(Outcome) Verdict

// Classify calls f(o).
func (f ClassifierFunc) Classify(o Outcome) Verdict { return f(o) }

// DefaultClassifier implements the rule that only the authorization server's
// explicit refusal is permanent. Everything a proxy, a network or a restarting
// backend can produce is transient.
var DefaultClassifier Classifier = ClassifierFunc(Classify)

// permanentCodes are the RFC 6749 §5.2 error codes by which the server
// refuses a request; true marks those that blame the client's configuration.
// invalid_request among them is a Suspect refusal (see Classify).
var permanentCodes = map[string]bool{
	"invalid_grant":          false,
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": false,
	"invalid_scope":          false,
	"invalid_request":        false,
}

// IsPermanentCode reports whether an OAuth2 error code is an explicit
// refusal by the authorization server, one that may revoke a session:
// invalid_grant, invalid_client, unauthorized_client,
// unsupported_grant_type, invalid_scope and invalid_request (the last only
// when it repeats; see Classify).
func IsPermanentCode(code string) bool {
	_, ok := permanentCodes[code]
	return ok
}

// Classify is the default classification; see DefaultClassifier. Only an
// explicit OAuth2 refusal may revoke: an error code that IsPermanentCode
// accepts, in the answer's body, with any status (a 200 carrying "error" is
// a refusal too, as golang.org/x/oauth2 reads it). The rules:
//
//   - invalid_grant, unsupported_grant_type and invalid_scope are Permanent;
//   - invalid_client and unauthorized_client are Permanent and set
//     Misconfigured: they are about the client, not the grant, so a
//     fallback grant that authenticates as the same client would be refused
//     the same way (states.Machine.Fallback does not try it);
//   - invalid_request is Suspect: permanent only when the same answer comes
//     SuspectRepeats times in a row, retried on the policy's pace until
//     then. RFC 6749 means it for a malformed request, which a retry cannot
//     fix, but fosite (Ory Hydra) also answers it when a refresh lost a
//     storage conflict: measured against Hydra v2.3.0 under load, about one
//     refresh in twenty got 400 invalid_request "…multiple concurrent
//     requests using the same token. Please retry the request.", the
//     transaction had rolled back, and the same refresh token sent again got
//     200. A paced retry costs little; revoking a live token family costs
//     everything;
//   - an invalid_request whose Description asks for a retry ("retry") or
//     names concurrent requests (fosite's storage conflict, in its older
//     wording "…which is not allowed" too) is Transient outright;
//   - every other answer is Transient, 429 being RateLimited: other error
//     codes (temporarily_unavailable, server_error, slow_down, unknown
//     codes), 5xx, 408, 404 pages, 2xx bodies that are not token responses;
//     a 401 or 403 whose body is an HTML page, empty, or anything but an
//     OAuth2 error (a proxy, WAF or CDN can send it as well as the server);
//     a bare 401 with a WWW-Authenticate challenge and no OAuth2 error (the
//     client's credentials may be wrong, but a proxy's or ingress's
//     challenge looks exactly the same, so it is retried; the cause names
//     the challenge's scheme).
//
// MaybeProcessed (the refresh token may have been consumed) is set only
// when no answer came back after the request was written, or the answer
// was not an OAuth2 error body (a proxy's page, a broken 2xx): an answer in
// the server's own error format, of any status (Hydra's JSON 500
// server_error after a rolled-back transaction included), means the server
// evaluated the request and handed out no pair.
func Classify(o Outcome) Verdict {
	s := o.Status
	switch {
	case s == 0:
		cause := "no response"
		if o.Err != nil {
			cause = o.Err.Error()
		}
		return Verdict{Class: Transient, Cause: cause, MaybeProcessed: o.Sent}
	case s >= 200 && s < 300 && o.ErrorCode == "":
		if o.Err == nil {
			return Verdict{Class: OK}
		}
		// A proxy or captive portal answered 200 with something that is not a
		// token response. The server may have rotated the refresh token.
		return Verdict{Class: Transient, Cause: StatusText(s) + ": " + o.Err.Error(), MaybeProcessed: true}
	}
	v := Verdict{Class: Transient, Cause: StatusText(s), MaybeProcessed: o.ErrorCode == ""}
	if ra, ok := ParseRetryAfter(o.RetryAfter, o.At); ok {
		v.RetryAfter = ra
	}
	if o.ErrorCode != "" {
		v.Cause = strconv.Itoa(s) + " " + o.ErrorCode
		if misconfigured, ok := permanentCodes[o.ErrorCode]; ok {
			v.Class, v.Misconfigured = Permanent, misconfigured
			switch {
			case misconfigured:
				v.Cause += ": client misconfigured"
			case o.ErrorCode != "invalid_request":
			case asksForRetry(o.Description):
				v.Class, v.Cause = Transient, v.Cause+": the server asks for a retry"
			default:
				v.Class = Suspect
			}
			return v
		}
	}
	switch {
	case s == 429:
		v.Class = RateLimited
	case o.ErrorCode != "":
	case s == 401 && Scheme(o.Challenge) != "":
		v.Cause += " without an OAuth2 error (WWW-Authenticate: " + Scheme(o.Challenge) +
			"): the client's credentials or a proxy's challenge"
	case s == 401 || s == 403:
		v.Cause += " without an OAuth2 error: not an explicit refusal"
	}
	return v
}

// asksForRetry reports whether an invalid_request's description says that
// the request may succeed when sent again: fosite answers a refresh that
// lost a storage conflict with "…multiple concurrent requests using the
// same token. Please retry the request." (older releases: "…which is not
// allowed."), and a missing or already rotated token row with "Failed to
// refresh token. Please retry the request.".
func asksForRetry(description string) bool {
	d := strings.ToLower(description)
	return strings.Contains(d, "retry") || strings.Contains(d, "concurrent request")
}

// Scheme returns the auth-scheme of a WWW-Authenticate challenge: its
// leading RFC 9110 token characters, at most 32 of them, without the
// parameters (which a server may fill with anything).
func Scheme(challenge string) string {
	challenge = strings.TrimLeft(challenge, " \t")
	for i := 0; i < len(challenge); i++ {
		if i == 32 || !isTokenChar(challenge[i]) {
			return challenge[:i]
		}
	}
	return challenge
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// StatusText returns "502 Bad Gateway" for 502, and the bare number for codes
// without a standard reason phrase.
func StatusText(code int) string {
	if t, ok := statusText[code]; ok {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// statusText holds the reason phrases a token endpoint or its proxies send;
// net/http is not imported here to keep policy/ free of I/O packages.
var statusText = map[int]string{
	200: "OK", 201: "Created", 204: "No Content",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
	413: "Content Too Large", 421: "Misdirected Request", 425: "Too Early",
	429: "Too Many Requests", 451: "Unavailable For Legal Reasons",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Timeout", 507: "Insufficient Storage",
	520: "Unknown Error", 521: "Web Server Is Down", 522: "Connection Timed Out",
	523: "Origin Is Unreachable", 524: "A Timeout Occurred",
}
