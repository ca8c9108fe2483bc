package tokenserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session/oauth"
)

// assertionRequest posts a client_credentials request authenticated by a
// client assertion signed with key under kid, for aud.
func assertionRequest(t *testing.T, s *Server, tokenURL, clientID string, key *ecdsa.PrivateKey, kid, aud string) (int, string) {
	t.Helper()
	p := &oauth.PrivateKeyJWT{Key: key, KeyID: kid, Audience: aud}
	typ, a, err := p.ClientAssertion(t.Context(), oauth.AssertionRequest{ClientID: clientID, TokenURL: tokenURL, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "client_id": {clientID},
		"client_assertion_type": {typ}, "client_assertion": {a.Reveal()}}
	resp, err := hc.PostForm(tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

func TestKeyClient(t *testing.T) {
	gen := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1, stranger := gen(), gen()
	s := startServer(t, Config{KeyClients: []KeyClient{{ID: "jwt", Keys: map[string]crypto.PublicKey{"k1": k1.Public()}}}})
	direct := s.URL() + TokenPath
	public := "http://auth.example" // where clients reach it (nginx, in the tests)
	if err := s.SetIssuer(public, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    *ecdsa.PrivateKey
		kid    string
		aud    string
		status int
		code   string
	}{
		{"known key", k1, "k1", "", 200, ""},
		{"addressed to the issuer's token URL", k1, "k1", public + TokenPath, 200, ""},
		{"unknown key under a known kid", stranger, "k1", "", 401, "invalid_client"},
		{"unknown kid", stranger, "k9", "", 400, "invalid_request"},
		{"another audience", k1, "k1", "https://elsewhere.example/token", 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := assertionRequest(t, s, direct, "jwt", tc.key, tc.kid, tc.aud)
			if status != tc.status || code != tc.code {
				t.Errorf("answered %d %q, want %d %q", status, code, tc.status, tc.code)
			}
			reqs := s.Requests()
			if last := reqs[len(reqs)-1]; last.KeyID != tc.kid || last.Status != tc.status {
				t.Errorf("logged kid %q status %d, want %q %d", last.KeyID, last.Status, tc.kid, tc.status)
			}
		})
	}
	// The secret client is unaffected.
	if _, err := s.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestMetadata(t *testing.T) {
	s := startServer(t, Config{})
	issuer := s.URL() + "/realms/it"
	get := func(path string) (int, Metadata) {
		t.Helper()
		resp, err := hc.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md Metadata
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, md
	}
	const rfc8414, oidc = "/.well-known/oauth-authorization-server/realms/it", "/realms/it/.well-known/openid-configuration"
	if status, _ := get(rfc8414); status != http.StatusNotFound {
		t.Errorf("before SetIssuer: %d, want 404", status)
	}
	if err := s.SetIssuer(issuer, DiscoveryRFC8414); err != nil {
		t.Fatal(err)
	}
	status, md := get(rfc8414)
	if status != http.StatusOK || md.Issuer != issuer || md.TokenEndpoint != issuer+TokenPath {
		t.Errorf("RFC 8414 document: %d %+v", status, md)
	}
	if status, _ := get(oidc); status != http.StatusNotFound {
		t.Errorf("OpenID Connect document not published: %d, want 404", status)
	}
	if err := s.SetIssuer(issuer, DiscoveryOIDC); err != nil {
		t.Fatal(err)
	}
	if status, md := get(oidc); status != http.StatusOK || md.Issuer != issuer {
		t.Errorf("OpenID Connect document: %d %+v", status, md)
	}
	// The token endpoint answers under the issuer's path too.
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	if _, err := RequestToken(t.Context(), hc, md.TokenEndpoint, s.ClientID(), s.ClientSecret(), form); err != nil {
		t.Errorf("token endpoint from the metadata: %v", err)
	}
	c := s.Counts()
	if c.MetadataServed != 2 || c.NotFound != 2 || c.Grants["client_credentials"] != 1 {
		t.Errorf("counts: %d served, %d not found, %v grants; want 2, 2, one client_credentials", c.MetadataServed, c.NotFound, c.Grants)
	}
	if !strings.HasPrefix(md.TokenEndpoint, s.URL()) {
		t.Errorf("token_endpoint %s", md.TokenEndpoint)
	}
}
