package session

import (
	"context"
	"errors"
)

// Token type hints of RFC 7009 §2.1, for Revoker.Revoke.
const (
	HintRefreshToken = "refresh_token"
	HintAccessToken  = "access_token"
)

// ErrNoRevocationEndpoint is returned (wrapped) by a Revoker that knows no
// revocation endpoint (oauth.Client.Revoke: no Endpoint.RevocationURL, and
// no Issuer whose metadata names a revocation_endpoint), and by
// Session.Logout (in a *LogoutError) when the session's Refresher cannot
// revoke.
var ErrNoRevocationEndpoint = errors.New("session: no revocation endpoint")

// A Revoker revokes a token at the authorization server (RFC 7009).
// *oauth.Client is one; Session.Logout uses the session's Refresher when it is
// one (WithRevoker names another). Revoke must be safe for concurrent use
// and honour ctx.
type Revoker interface {
	// Revoke revokes token; hint is its type (HintRefreshToken,
	// HintAccessToken), or "" when unknown. A token the server does not
	// know (already revoked, expired) is no error (RFC 7009 §2.2).
	Revoke(ctx context.Context, token Secret, hint string) error
}
