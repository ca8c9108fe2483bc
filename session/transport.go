package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/authfsm/authfsm/states"
)

// Transport is an http.RoundTripper that authorizes requests with a
// Session's access token. On a 401 answer to the token it sent, it tells the
// session (Reject), waits for the refresh, and replays the request once with
// the new token when the body can be replayed (Request.GetBody, or no
// body). The wait follows ContextWithWait and WithFailFast like
// Session.Token, and a waiting request waits at most until the next
// attempt's request timeout.
//
// What RoundTrip returns, as net/http's RoundTripper contract asks: every
// response it obtained, whatever its status, with a nil error. A 401 that
// is not replayed (a body that cannot be, no better token) and the 401 to
// the replayed request reach the caller as they came, body and
// WWW-Authenticate challenge included, so the caller can read why
// (insufficient scope, a wrong audience). An error comes only without a
// response to return: the session had no token to send (Token's
// *RefreshError, *RevokedError, ErrClosed), Base failed, or — the one
// exception — a 401 came and no new token to replay the request with: the
// 401 answered a token the session has withdrawn, and the refresh error
// says more (what failed, when the next attempt is due).
//
// When the resource server refuses a token that the session obtained
// moments ago in answer to a rejection, the session counts that as a failed
// refresh attempt: the retry policy paces the next token request, so an API
// that refuses every token cannot cause a refresh storm. The 401 is still
// returned; RejectionFrom(resp) gives the *RejectedError (errors.Is
// ErrTokenRejected) that says so, and Status().LastError and Token's error
// in the backoff that follows wrap it.
//
// The token goes only where it belongs. Redirects that an http.Client
// follows come back through RoundTrip; the token is attached to a redirected
// request only when it goes to the original request's host and port with
// no downgrade from https to http, or to a host in AllowedHosts.
// Other redirected requests are sent without it, as browsers do with
// credentials.
//
// It follows the rest of the RoundTripper contract too: the caller's
// request is never modified (a clone carries the header, unless
// ModifyRequest says otherwise), the request body is closed even on
// errors, and the request's context bounds the wait for a token.
type Transport struct {
	// Session supplies the tokens; required.
	Session *Session
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// AllowedHosts lists further hosts ("api.example.com", or with a port,
	// "api.example.com:8443") that may receive the token when a redirect
	// leads there. HTTPS is still required unless the original request used
	// plain HTTP.
	AllowedHosts []string
	// ModifyRequest lets RoundTrip set the Authorization header on the
	// request it is given rather than on a clone of it, sparing a copy of
	// the request and its header per round trip. It departs from net/http's
	// RoundTripper contract, which forbids modifying the request: set it
	// only where the request is a copy made for this round trip that
	// nothing reads afterwards, such as the outgoing request that
	// httputil.ReverseProxy hands its Transport, never for an http.Client.
	// A replay after a 401 is still sent from a clone. False by default.
	ModifyRequest bool
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.Session == nil {
		closeBody(req)
		return nil, errors.New("session: Transport has no Session")
	}
	if !t.mayAuthorize(req) {
		return t.base().RoundTrip(req)
	}
	tok, err := t.Session.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// Whether the request can be replayed must be known before the first
	// round trip consumes the body.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	out := req
	if t.ModifyRequest {
		setAuthorization(req, tok)
	} else {
		out = authorize(req, tok)
	}
	resp, rejected, err := t.send(req, out, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || rejected || !replayable {
		return resp, err
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
	resp, _, err = t.send(req, retry, next)
	return resp, err
}

// send sends out, the caller's req carrying tok, and tells the session
// what the resource server made of tok: an answer other than 401 accepts
// it, a 401 rejects it. When the rejection fails the refresh attempt that
// delivered tok moments ago, the 401 carries that *RejectedError for
// RejectionFrom, and rejected is true: the session is in backoff, so the
// request is not replayed.
func (t *Transport) send(req, out *http.Request, tok Token) (resp *http.Response, rejected bool, err error) {
	resp, err = t.base().RoundTrip(out)
	if err != nil {
		return resp, false, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Session.accepted(tok.Access)
		return resp, false, nil
	}
	rerr := t.Session.reject(tok.Access, rejection(req, resp, tok))
	if rerr == nil {
		return resp, false, nil
	}
	r := resp.Request
	if r == nil {
		r = out
	}
	resp.Request = r.WithContext(context.WithValue(r.Context(), rejectionKey{}, rerr))
	return resp, true, nil
}

// rejectionKey is the context key under which a 401 response's Request
// carries the *RejectedError for RejectionFrom.
type rejectionKey struct{}

// RejectionFrom returns the *RejectedError (errors.Is ErrTokenRejected)
// that a response of Transport carries when it is a 401 to a token the
// session had obtained moments ago in answer to an earlier rejection: the
// rejection failed that refresh attempt, and the retry policy paces the
// next. It returns nil for any other response, a nil one included. The
// error is kept in the context of resp.Request, which Transport sets to a
// copy of the request it sent.
func RejectionFrom(resp *http.Response) error {
	if resp == nil || resp.Request == nil {
		return nil
	}
	if e, ok := resp.Request.Context().Value(rejectionKey{}).(*RejectedError); ok && e != nil {
		return e
	}
	return nil
}

// accepted reports that a resource server accepted access, when that ends
// the probation of a token that a rejection's refresh delivered. It costs
// one atomic load otherwise.
func (s *Session) accepted(access Secret) {
	if p := s.snap.Load(); p.probation && p.tok.Access == access {
		s.accept(access)
	}
}

// rejection describes a 401 answer to req, which carried tok, for the
// session: where it came from and the server's challenge (cleaned, and
// scrubbed of the token should the server echo it), never the request's
// query or user info.
func rejection(req *http.Request, resp *http.Response, tok Token) *RejectedError {
	u := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
	challenge := redact.Text(redact.NewScrubber(tok.Access.Reveal()), resp.Header.Get("WWW-Authenticate"), redact.MaxDescription)
	return &RejectedError{URL: u.String(), Status: resp.StatusCode, Challenge: challenge}
}

// mayAuthorize reports whether req may carry the token: a request the
// caller made, or a redirect to the original host (without a downgrade to
// plain HTTP) or to an allowed host.
func (t *Transport) mayAuthorize(req *http.Request) bool {
	orig := req
	for orig.Response != nil && orig.Response.Request != nil && orig.Response.Request != orig {
		orig = orig.Response.Request
	}
	if orig == req {
		return true
	}
	from, to := orig.URL, req.URL
	if from.Scheme == "https" && to.Scheme != "https" {
		return false
	}
	if sameHost(from, to) {
		return true
	}
	for _, h := range t.AllowedHosts {
		if strings.Contains(h, ":") {
			if strings.EqualFold(h, hostPort(to)) {
				return true
			}
		} else if strings.EqualFold(h, to.Hostname()) {
			return true
		}
	}
	return false
}

// sameHost reports whether a redirect from a to b stays on a's host: the
// same host and port, or the usual upgrade from http on port 80 to https on
// port 443.
func sameHost(a, b *url.URL) bool {
	if strings.EqualFold(hostPort(a), hostPort(b)) {
		return true
	}
	return strings.EqualFold(a.Hostname(), b.Hostname()) && a.Scheme == "http" && b.Scheme == "https" &&
		a.Port() == "" && b.Port() == ""
}

// hostPort returns u's host with its port, the scheme's default when none
// is given.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// replayToken returns the token to replay a refused request with. It
// honours the caller's ContextWithWait, else the session's WithFailFast, like
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
	if s.data.State() == states.Backoff && s.data.NextAt().After(at) {
		at = s.data.NextAt()
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
	setAuthorization(r, tok)
	return r
}

// setAuthorization makes req carry tok.
func setAuthorization(req *http.Request, tok Token) {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Authorization", tok.AuthorizationType()+" "+tok.Access.Reveal())
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
