package policy

import (
	"context"
	"errors"
	"time"
)

// The words of what a token-endpoint client observes when a request brings
// no token response. The runtime's oauth.Client reports them, and the
// simulator's model of that client words the same outcomes with them, so
// that the causes built from them are the same on both sides (authfsm
// conform compares them). Their texts carry no package name: each is the
// detail of a cause, wrapped by the error that reports it
// (session.EndpointError), and none quotes a body, which may hold a token.

// ErrNoAnswer is the error of a request that its deadline ended before an
// answer came. It matches context.DeadlineExceeded.
var ErrNoAnswer error = noAnswer{}

type noAnswer struct{}

func (noAnswer) Error() string        { return "no answer before the request deadline" }
func (noAnswer) Is(target error) bool { return target == context.DeadlineExceeded }

// NoAnswer returns the outcome of a request that its deadline ended at at
// with no answer. It counts as sent: the server may have performed it, so
// the refresh token it presented is in doubt (Classify).
func NoAnswer(at time.Time) Outcome { return Outcome{Err: ErrNoAnswer, Sent: true, At: at} }

// ErrNotTokenResponse is matched (with errors.Is) by every error
// NotTokenResponse returns, ErrHTMLBody and ErrMalformedJSON included.
var ErrNotTokenResponse = errors.New("not a token response")

// NotTokenResponse returns the error of a 2xx answer whose body is not a
// token response, for reason ("empty body", "body is not a JSON object"):
// "not a token response: " followed by reason.
func NotTokenResponse(reason string) error { return &notTokenResponse{reason: reason} }

type notTokenResponse struct{ reason string }

func (e *notTokenResponse) Error() string        { return "not a token response: " + e.reason }
func (e *notTokenResponse) Is(target error) bool { return target == ErrNotTokenResponse }

// ErrHTMLBody is the error of a 2xx answer whose body is an HTML or XML
// page (a captive portal, a proxy's or a WAF's page), and ErrMalformedJSON
// that of one whose JSON body is broken (a truncated answer).
var (
	ErrHTMLBody      = NotTokenResponse("body is an HTML or XML page")
	ErrMalformedJSON = NotTokenResponse("malformed JSON")
)
