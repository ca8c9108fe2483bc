package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/authfsm/authfsm/session"
)

// The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), as
// package session/login drives it through a loopback redirect: AuthCodeURL
// is where the browser goes, Exchange trades the code it brings back.

// AuthCodeURL returns the authorization request's URL (RFC 6749 §4.1.1):
// the authorization endpoint (Endpoint.AuthURL, or the issuer's
// authorization_endpoint) with its own query, params (the flow's
// redirect_uri, state, code_challenge and code_challenge_method, and any
// others: prompt, login_hint, …), response_type=code, client_id and,
// unless params name a scope, Endpoint.Scopes. A Client without a ClientID
// cannot log in.
func (c *Client) AuthCodeURL(ctx context.Context, params url.Values) (string, error) {
	if c.e.ClientID == "" {
		return "", errors.New("oauth: a login needs Endpoint.ClientID")
	}
	authURL, err := c.loginEndpoint(ctx, c.e.AuthURL, "authorization endpoint",
		func(md *Metadata) string { return md.AuthorizationEndpoint })
	if err != nil {
		return "", err
	}
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("response_type", "code")
	q.Set("client_id", c.e.ClientID)
	if !q.Has("scope") && len(c.e.Scopes) > 0 {
		q.Set("scope", strings.Join(c.e.Scopes, " "))
	}
	u, _ := url.Parse(authURL) // checked by loginEndpoint or NewClient
	for k, v := range u.Query() {
		if _, ok := q[k]; !ok {
			q[k] = v
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Exchange trades an authorization code for a token (RFC 6749 §4.1.3):
// code, the redirectURI it was sent to and the PKCE verifier (RFC 7636
// §4.5), authenticated as a token request is. Every failure is a
// *session.EndpointError. Endpoint.OnToken is called with the token.
func (c *Client) Exchange(ctx context.Context, code, redirectURI, verifier string) (session.Token, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	tok, err := c.tokenRequest(ctx, form, []string{code, verifier})
	if err != nil {
		return session.Token{}, err
	}
	if c.e.OnToken != nil {
		c.e.OnToken(tok)
	}
	return tok, nil
}

// Endpoint returns the Endpoint c was made from, with what NewClient
// filled in: Grant, DefaultTTL, HTTPClient and Clock.
func (c *Client) Endpoint() Endpoint {
	e := c.e
	e.DefaultTTL, e.HTTPClient, e.Clock = c.ttl, c.hc, c.clk
	return e
}
