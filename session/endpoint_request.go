package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/authfsm/authfsm/policy"
)

// Refresh implements Refresher: it requests a new token with the configured
// grant. A refresh_token grant's result keeps cur's refresh token when the
// response carries none. Every failure is an *EndpointError, except ErrNoRefreshToken.
func (c *Client) Refresh(ctx context.Context, cur Token) (Token, error) {
	tokenURL, shown, urlSecrets, err := c.endpoint(ctx)
	if err != nil {
		return Token{}, err
	}
	form := url.Values{}
	for k, v := range c.form {
		form[k] = v
	}
	form.Set("grant_type", string(c.e.Grant))
	// The secrets this request carries besides the client's own, which the
	// server's answer must not echo into an error.
	carried := append([]string{cur.Refresh.Reveal(), cur.Access.Reveal()}, urlSecrets...)
	switch c.e.Grant {
	case GrantRefreshToken:
		if cur.Refresh == "" {
			return Token{}, ErrNoRefreshToken
		}
		form.Set("refresh_token", cur.Refresh.Reveal())
	case GrantTokenExchange:
		if err := c.exchangeParams(ctx, form, &carried); err != nil {
			return Token{}, &EndpointError{URL: shown, Err: err, At: c.clk.Now()}
		}
	}
	if len(c.e.Scopes) > 0 {
		form.Set("scope", strings.Join(c.e.Scopes, " "))
	}
	basic := c.e.AuthStyle == AuthBasic && c.e.ClientSecret != "" && c.e.Assertion == nil
	if !basic && c.e.ClientID != "" {
		form.Set("client_id", c.e.ClientID)
		if c.e.ClientSecret != "" {
			form.Set("client_secret", c.e.ClientSecret.Reveal())
		}
	}
	if a := c.e.Assertion; a != nil {
		typ, assertion, err := a.ClientAssertion(ctx, AssertionRequest{ClientID: c.e.ClientID, TokenURL: tokenURL, Now: c.clk.Now()})
		if err != nil {
			return Token{}, &EndpointError{URL: shown, Err: err, At: c.clk.Now()}
		}
		form.Set("client_assertion_type", typ)
		form.Set("client_assertion", assertion.Reveal())
		carried = append(carried, assertion.Reveal())
	}
	// WroteRequest tells a request that never left (refused, DNS) from one
	// the server may have acted on before its answer was lost.
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, &EndpointError{URL: shown, Err: err, At: c.clk.Now()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.Header.Set("Authorization", "Basic "+basicCredential(c.e.ClientID, c.e.ClientSecret.Reveal()))
	}
	resp, err := c.hc.Do(req)
	now := c.clk.Now()
	if err != nil {
		return Token{}, &EndpointError{URL: shown, Err: transportError(ctx, err), Sent: sent.Load(), At: now}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if readErr == nil && len(body) > MaxResponseBody {
		readErr = fmt.Errorf("body exceeds %d bytes", MaxResponseBody)
	}
	// Whatever the server says is scrubbed of the secrets it was sent (or
	// could have been) before it reaches the error.
	sc := newScrubber(append(carried, c.secrets...)...)
	ee := &EndpointError{URL: shown, Status: resp.StatusCode, RetryAfter: serverText(sc, resp.Header.Get("Retry-After"), 64),
		Challenge: policy.Scheme(resp.Header.Get("WWW-Authenticate")), Sent: true, At: now}
	ctype := resp.Header.Get("Content-Type")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if readErr == nil {
			setOAuthError(ee, sc, ctype, body)
		}
		return Token{}, ee
	}
	if readErr != nil {
		ee.Err = fmt.Errorf("reading the token response: %w", transportError(ctx, readErr))
		return Token{}, ee
	}
	tok, err := parseTokenResponse(ctype, body, now, c.ttl)
	if err != nil {
		// A 2xx carrying "error" gets its code, and classifies by it.
		ee.Err = err
		setOAuthError(ee, sc, ctype, body)
		return Token{}, ee
	}
	if tok.Refresh == "" && c.e.Grant == GrantRefreshToken {
		// RFC 6749 §6: the server may keep the refresh token as it is. Any
		// other grant's answer has nothing to do with cur's refresh token,
		// which may be the dead one a fallback grant replaces: a pair that
		// carried it would hand it to whoever adopts or restores the pair.
		tok.Refresh = cur.Refresh
	}
	if c.e.OnToken != nil {
		c.e.OnToken(tok)
	}
	return tok, nil
}

// setOAuthError copies the OAuth2 error members of body into ee, each
// cleaned by serverText with sc.
func setOAuthError(ee *EndpointError, sc scrubber, contentType string, body []byte) {
	code, description, uri := parseErrorBody(contentType, body)
	ee.Code = serverText(sc, code, maxCode)
	ee.Description = serverText(sc, description, maxDescription)
	ee.ErrorURI = serverText(sc, uri, maxDescription)
}

// transportError strips the *url.Error wrapper (whose text repeats the
// method and URL, which EndpointError already names) and says plainly when
// the request's deadline ended it.
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errNoAnswer{}
	}
	return err
}

// errNoAnswer is a request ended by its deadline. It matches
// context.DeadlineExceeded.
type errNoAnswer struct{}

func (errNoAnswer) Error() string        { return "no answer before the request deadline" }
func (errNoAnswer) Is(target error) bool { return target == context.DeadlineExceeded }
