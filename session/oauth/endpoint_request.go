package oauth

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
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// Refresh implements session.Refresher: it requests a new token with the configured
// grant. A refresh_token grant's result keeps cur's refresh token when the
// response carries none. Every failure is an *session.EndpointError, except session.ErrNoRefreshToken.
func (c *Client) Refresh(ctx context.Context, cur session.Token) (session.Token, error) {
	form := url.Values{}
	form.Set("grant_type", string(c.e.Grant))
	// The secrets this request carries besides the client's own, which the
	// server's answer must not echo into an error.
	carried := []string{cur.Refresh.Reveal(), cur.Access.Reveal()}
	switch c.e.Grant {
	case GrantRefreshToken:
		if cur.Refresh == "" {
			return session.Token{}, session.ErrNoRefreshToken
		}
		form.Set("refresh_token", cur.Refresh.Reveal())
	case GrantTokenExchange:
		if err := c.exchangeParams(ctx, form, &carried); err != nil {
			_, shown, _, _ := c.endpoint(ctx)
			return session.Token{}, &session.EndpointError{URL: shown, Err: err, At: c.clk.Now()}
		}
	}
	if len(c.e.Scopes) > 0 {
		form.Set("scope", strings.Join(c.e.Scopes, " "))
	}
	tok, err := c.tokenRequest(ctx, form, carried)
	if err != nil {
		return session.Token{}, err
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

// tokenRequest sends form (a grant's parameters, without the client's
// authentication or Endpoint.Params) to the token endpoint and reads the
// token answer. carried are the secrets form holds. Every failure is an
// *session.EndpointError.
func (c *Client) tokenRequest(ctx context.Context, form url.Values, carried []string) (session.Token, error) {
	tokenURL, shown, urlSecrets, err := c.endpoint(ctx)
	if err != nil {
		return session.Token{}, err
	}
	a, err := c.send(ctx, tokenURL, shown, tokenURL, form, append(carried, urlSecrets...))
	if err != nil {
		return session.Token{}, err
	}
	if a.status < 200 || a.status > 299 {
		return session.Token{}, a.refusal()
	}
	if a.readErr != nil {
		a.ee.Err = fmt.Errorf("reading the token response: %w", a.readErr)
		return session.Token{}, a.ee
	}
	tok, err := parseTokenResponse(a.ctype, a.body, a.ee.At, c.ttl)
	if err != nil {
		// A 2xx carrying "error" gets its code, and classifies by it.
		a.ee.Err = err
		return session.Token{}, a.refusal()
	}
	return tok, nil
}

// answer is what an endpoint of the authorization server answered to one
// request.
type answer struct {
	status  int
	ctype   string
	body    []byte // at most MaxResponseBody bytes
	readErr error  // the body could not be read whole
	// ee is the answer as an *session.EndpointError (URL, status, Retry-After,
	// challenge, instant), without the OAuth2 error yet: see refusal.
	ee *session.EndpointError
	// sc scrubs the request's secrets from the server's text.
	sc redact.Scrubber
}

// refusal returns the answer as an *session.EndpointError carrying the OAuth2
// error of its body, if it has one, cleaned by serverText.
func (a *answer) refusal() *session.EndpointError {
	if a.readErr == nil {
		setOAuthError(a.ee, a.sc, a.ctype, a.body)
	}
	return a.ee
}

// worked reports whether the server accepted the request: a 2xx whose body
// carries no OAuth2 error.
func (a *answer) worked() bool {
	if a.status < 200 || a.status > 299 || a.readErr != nil {
		return false
	}
	code, _, _ := parseErrorBody(a.ctype, a.body)
	return code == ""
}

// clientRefused reports whether the server refused the client's
// authentication: an invalid_client answer, whatever its status.
func (a *answer) clientRefused() bool {
	if a.readErr != nil {
		return false
	}
	code, _, _ := parseErrorBody(a.ctype, a.body)
	return code == "invalid_client"
}

// send posts form with Endpoint.Params and the client's authentication to
// target, an endpoint of the authorization server shown as shown; audience
// is the token endpoint, which a client assertion names. With
// AuthAutoDetect and a client secret, it authenticates as the Client last
// succeeded with; before any success, with HTTP Basic and, when the server
// answers invalid_client, once more with the credentials in the body (RFC
// 6749 §2.3.1 lets a server take them there only), remembering what the
// server accepted. An invalid_client answer is the server's refusal of the
// client before it acted on the grant, so a refresh token sent twice this
// way is not spent by the first request; any other failure is returned as
// it is, since the server may have acted on it. Failures without an answer
// are an *session.EndpointError.
func (c *Client) send(ctx context.Context, target, shown, audience string, form url.Values, carried []string) (*answer, error) {
	style, probe := c.authStyle()
	a, err := c.post(ctx, target, shown, audience, form, carried, style)
	if probe && err == nil && a.clientRefused() {
		style = AuthBody
		a, err = c.post(ctx, target, shown, audience, form, carried, style)
	}
	if probe && err == nil && a.worked() {
		c.style.Store(uint32(style))
	}
	return a, err
}

// authStyle returns how the next request authenticates the client, and
// whether that is a probe of AuthAutoDetect: Basic first, the body next.
func (c *Client) authStyle() (AuthStyle, bool) {
	if c.e.ClientSecret == "" || c.e.Assertion != nil {
		return AuthBody, false // only a secret can go in a Basic header
	}
	if c.e.AuthStyle != AuthAutoDetect {
		return c.e.AuthStyle, false
	}
	if s := AuthStyle(c.style.Load()); s != AuthAutoDetect {
		return s, false
	}
	return AuthBasic, true
}

// post sends one request: form, Endpoint.Params and the client's
// authentication in style, to target. A request that got no answer, or
// that could not be built, is an *session.EndpointError; an answer of any status
// is returned with its body read.
func (c *Client) post(ctx context.Context, target, shown, audience string, form url.Values, carried []string, style AuthStyle) (*answer, error) {
	f := url.Values{}
	for k, v := range c.form {
		f[k] = v
	}
	for k, v := range form {
		f[k] = v
	}
	basic := style == AuthBasic && c.e.ClientSecret != "" && c.e.Assertion == nil
	if !basic && c.e.ClientID != "" {
		f.Set("client_id", c.e.ClientID)
		if c.e.ClientSecret != "" {
			f.Set("client_secret", c.e.ClientSecret.Reveal())
		}
	}
	if as := c.e.Assertion; as != nil {
		typ, assertion, err := as.ClientAssertion(ctx, AssertionRequest{ClientID: c.e.ClientID, TokenURL: audience, Now: c.clk.Now()})
		if err != nil {
			return nil, &session.EndpointError{URL: shown, Err: err, At: c.clk.Now()}
		}
		f.Set("client_assertion_type", typ)
		f.Set("client_assertion", assertion.Reveal())
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
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, target, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, &session.EndpointError{URL: shown, Err: err, At: c.clk.Now()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.Header.Set("Authorization", "Basic "+basicCredential(c.e.ClientID, c.e.ClientSecret.Reveal()))
	}
	resp, err := c.hc.Do(req)
	now := c.clk.Now()
	if err != nil {
		return nil, &session.EndpointError{URL: shown, Err: transportError(ctx, err), Sent: sent.Load(), At: now}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if readErr == nil && len(body) > MaxResponseBody {
		readErr = fmt.Errorf("body exceeds %d bytes", MaxResponseBody)
	} else if readErr != nil {
		readErr = transportError(ctx, readErr)
	}
	// Whatever the server says is scrubbed of the secrets it was sent (or
	// could have been) before it reaches the error.
	sc := redact.NewScrubber(append(carried, c.secrets...)...)
	ee := &session.EndpointError{URL: shown, Status: resp.StatusCode, RetryAfter: redact.Text(sc, resp.Header.Get("Retry-After"), 64),
		Challenge: policy.Scheme(resp.Header.Get("WWW-Authenticate")), Sent: true, At: now}
	return &answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: body, readErr: readErr, ee: ee, sc: sc}, nil
}

// setOAuthError copies the OAuth2 error members of body into ee, each
// cleaned by serverText with sc.
func setOAuthError(ee *session.EndpointError, sc redact.Scrubber, contentType string, body []byte) {
	code, description, uri := parseErrorBody(contentType, body)
	ee.Code = redact.Text(sc, code, redact.MaxCode)
	ee.Description = redact.Text(sc, description, redact.MaxDescription)
	ee.ErrorURI = redact.Text(sc, uri, redact.MaxDescription)
}

// transportError strips the *url.Error wrapper (whose text repeats the
// method and URL, which session.EndpointError already names) and says plainly when
// the request's deadline ended it.
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return policy.ErrNoAnswer
	}
	return err
}
