package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// Revoke revokes token at the revocation endpoint (RFC 7009):
// Endpoint.RevocationURL, or the revocation_endpoint of Issuer's metadata.
// It sends token and token_type_hint (hint, when not empty) with the
// client's authentication, as a token request does (AuthStyle,
// Assertion; a public client sends its client_id) and Endpoint.Params. A
// 200 answer revokes it, or says that the server does not know it, which
// RFC 7009 §2.2 also answers 200. Any other answer, or none, is an
// *session.EndpointError carrying the server's OAuth2 error (unsupported_token_type
// when the server cannot revoke that kind of token; a 503 with Retry-After
// when it asks the client to retry later), which a policy.Classifier
// classifies like a token request's. A Client without a revocation
// endpoint returns an error matching session.ErrNoRevocationEndpoint.
func (c *Client) Revoke(ctx context.Context, token session.Secret, hint string) error {
	if token == "" {
		return errors.New("oauth: Revoke needs a token")
	}
	target, err := c.revocationEndpoint(ctx)
	if err != nil {
		return err
	}
	audience, _, urlSecrets, err := c.endpoint(ctx)
	if err != nil {
		audience = target // no token endpoint to name: an assertion names this one
	}
	shown := redact.URL(target)
	u, _ := url.Parse(target)
	for _, v := range u.Query() {
		urlSecrets = append(urlSecrets, v...)
	}
	form := url.Values{"token": {token.Reveal()}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	a, err := c.send(ctx, target, shown, audience, form, append([]string{token.Reveal()}, urlSecrets...))
	if err != nil {
		return err
	}
	if a.status == 200 && a.readErr == nil {
		return nil
	}
	return a.refusal()
}

// revocationEndpoint returns Endpoint.RevocationURL, or the issuer's
// revocation_endpoint.
func (c *Client) revocationEndpoint(ctx context.Context) (string, error) {
	if c.e.RevocationURL == "" && c.disc == nil {
		return "", fmt.Errorf("%w: set Endpoint.RevocationURL, or Endpoint.Issuer to discover it", session.ErrNoRevocationEndpoint)
	}
	target, err := c.loginEndpoint(ctx, c.e.RevocationURL, "revocation endpoint",
		func(md *Metadata) string { return md.RevocationEndpoint })
	var ee *session.EndpointError
	if err != nil && !errors.As(err, &ee) {
		return "", fmt.Errorf("%w: %w", session.ErrNoRevocationEndpoint, err)
	}
	return target, err
}
