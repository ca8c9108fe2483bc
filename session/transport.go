package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authfsm/authfsm/states"
)

// Transport is an http.RoundTripper that authorizes requests with a
// Session's access token. On a 401 answer to the token it sent, it tells the
// session (Reject), waits for the refresh, and replays the request once with
// the new token when the body can be replayed (Request.GetBody, or no
// body); a second 401 is returned to the caller as it is. When no new token
// comes, the refresh error is returned instead of the 401. The wait follows
// WithWait and WithFailFast like Session.Token, and a waiting request waits
// at most until the next attempt's request timeout.
//
// It follows the RoundTripper contract: the caller's request is never
// modified (a clone carries the header), the request body is closed even on
// errors, and the request's context bounds the wait for a token.
type Transport struct {
	// Session supplies the tokens; required.
	Session *Session
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.Session == nil {
		closeBody(req)
		return nil, errors.New("session: Transport has no Session")
	}
	tok, err := t.Session.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// Whether the request can be replayed must be known before the first
	// round trip consumes the body.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	resp, err := t.base().RoundTrip(authorize(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	t.Session.Reject(tok.Access)
	if !replayable {
		return resp, nil
	}
	next, err := t.Session.replayToken(ctx)
	if err != nil {
		// The 401 is explained by the failed refresh, which says more.
		discard(resp)
		return nil, err
	}
	if next.Access == tok.Access {
		return resp, nil // no better token: the caller sees the 401 itself
	}
	retry := authorize(req, next)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	discard(resp)
	return t.base().RoundTrip(retry)
}

// replayToken returns the token to replay a refused request with. It
// honours the caller's WithWait, else the session's WithFailFast, like
// Token. A waiting caller waits at most until the next attempt has had its
// request timeout: a replay is worth a short wait, not an outage's length,
// and a request without deadline would otherwise block until the endpoint
// recovers. When that bound ends the wait, the error is the refresh error.
func (s *Session) replayToken(ctx context.Context) (Token, error) {
	if s.cfg.failFastFor(ctx) {
		return s.Token(ctx)
	}
	s.mu.Lock()
	at := s.cfg.clock.Now()
	if s.data.State == states.Backoff && s.data.NextAt.After(at) {
		at = s.data.NextAt
	}
	s.mu.Unlock()
	deadline := at.Add(s.cfg.timeout)
	bounded, cancel := s.cfg.clock.WithDeadline(ctx, deadline)
	defer cancel()
	tok, err := s.Token(bounded)
	if err == nil || ctx.Err() != nil || bounded.Err() == nil {
		return tok, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.err == nil {
		return Token{}, fmt.Errorf("session: no new token to replay the request by %v", deadline.Format(time.RFC3339))
	}
	return Token{}, s.refreshErrorLocked(s.cfg.clock.Now())
}

// discard drains a little of an answer that will not reach the caller, so
// the connection can be reused, and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// authorize returns a clone of req carrying tok; req is left untouched.
func authorize(req *http.Request, tok Token) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", tok.AuthorizationType()+" "+tok.Access.Reveal())
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
