package session

import (
	"errors"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that authorizes requests with a
// Session's access token. On a 401 answer to the token it sent, it tells the
// session (Reject), waits for the refresh, and replays the request once with
// the new token when the body can be replayed (Request.GetBody, or no
// body); a second 401 is returned to the caller as it is.
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
	next, err := t.Session.Token(WithWait(ctx, true))
	if err != nil || next.Access == tok.Access {
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
	// The first answer is discarded; drain a little so the connection can
	// be reused, and close it.
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	return t.base().RoundTrip(retry)
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
