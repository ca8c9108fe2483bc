package tokenserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// KeyClient registers a client that authenticates with private_key_jwt
// (RFC 7523 §2.2, OpenID Connect Core §9): token_endpoint_auth_method
// private_key_jwt and the client's public keys as its registered JWKS.
// fosite verifies each client_assertion with the key its header's kid
// names, checks iss, sub, a single-use jti, exp, and that aud is the token
// endpoint's URL (see SetIssuer). An assertion signed by a key the JWKS does
// not hold under that kid is answered 401 invalid_client; one naming a kid
// the JWKS lacks, 400 invalid_request (fosite's choice).
type KeyClient struct {
	// ID is the client's id.
	ID string
	// Alg is token_endpoint_auth_signing_alg: "ES256" (the default, for
	// ECDSA P-256 keys) or "RS256".
	Alg string
	// Keys are the client's public keys by kid.
	Keys map[string]crypto.PublicKey
}

// register adds c to store as fosite's OpenID Connect client.
func (c KeyClient) register(store map[string]fosite.Client) error {
	if c.ID == "" {
		return fmt.Errorf("tokenserver: KeyClient without an ID")
	}
	alg := c.Alg
	if alg == "" {
		alg = "ES256"
	}
	set := &jose.JSONWebKeySet{}
	kids := make([]string, 0, len(c.Keys))
	for kid := range c.Keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	for _, kid := range kids {
		switch c.Keys[kid].(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey:
		default:
			return fmt.Errorf("tokenserver: KeyClient %s: key %s is a %T, want *ecdsa.PublicKey or *rsa.PublicKey", c.ID, kid, c.Keys[kid])
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: c.Keys[kid], KeyID: kid, Algorithm: alg, Use: "sig"})
	}
	store[c.ID] = &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID:         c.ID,
			GrantTypes: []string{"client_credentials", "refresh_token"},
			Scopes:     []string{"offline", "api"},
		},
		JSONWebKeys:                       set,
		TokenEndpointAuthMethod:           "private_key_jwt",
		TokenEndpointAuthSigningAlgorithm: alg,
	}
	return nil
}

// assertionKeyID returns the kid of a client_assertion's JOSE header, read
// without verifying anything ("" when there is none or it is not a JWT).
func assertionKeyID(assertion string) string {
	h, _, ok := strings.Cut(assertion, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var header struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &header)
	return header.Kid
}
