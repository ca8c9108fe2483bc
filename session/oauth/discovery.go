package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// Metadata is what an authorization server publishes about itself (RFC
// 8414, OpenID Connect Discovery 1.0): the members the Client uses.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// AuthorizationEndpoint is where login.Browser sends the browser.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// DeviceAuthorizationEndpoint is where login.Device asks for a user
	// code (RFC 8628 §4).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// CodeChallengeMethodsSupported lists the PKCE methods (RFC 7636).
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// RevocationEndpoint is where Client.Revoke revokes tokens (RFC 7009,
	// RFC 8414 §2).
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
}

// Discover fetches issuer's metadata: first from RFC 8414's
// /.well-known/oauth-authorization-server (inserted before the issuer's
// path), then from OpenID Connect's {issuer}/.well-known/openid-configuration.
// The document must name issuer exactly (RFC 8414 §3.3, so a server cannot
// pass itself off as another) and an https token endpoint (or loopback http,
// or any http with allowHTTP). hc nil means a client that follows no
// redirects. A failure is an *session.EndpointError: a fetch that fails
// transiently is retried by a session like a refresh.
func Discover(ctx context.Context, hc *http.Client, issuer string, allowHTTP bool) (Metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Metadata{}, fmt.Errorf("oauth: issuer %s is not a URL without query or fragment", redact.RawURL(issuer))
	}
	if err := checkScheme(u, allowHTTP); err != nil {
		return Metadata{}, fmt.Errorf("oauth: issuer %s: %w", redact.URL(issuer), err)
	}
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	candidates := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		u.Scheme + "://" + u.Host + path + "/.well-known/openid-configuration",
	}
	var last error
	for _, c := range candidates {
		md, err := fetchMetadata(ctx, hc, c)
		var ee *session.EndpointError
		if errors.As(err, &ee) && ee.Status == http.StatusNotFound {
			last = err
			continue // the other well-known name may be the one served
		}
		if err != nil {
			return Metadata{}, err
		}
		if md.Issuer != issuer {
			return Metadata{}, &session.EndpointError{Document: true, URL: redact.URL(c), Status: 200, Sent: true, At: time.Now(),
				Err: fmt.Errorf("metadata names issuer %q, not %q", md.Issuer, issuer)}
		}
		tu, err := url.Parse(md.TokenEndpoint)
		if err != nil || tu.Host == "" {
			return Metadata{}, &session.EndpointError{Document: true, URL: redact.URL(c), Status: 200, Sent: true, At: time.Now(), Err: errors.New("metadata has no usable token_endpoint")}
		}
		if err := checkScheme(tu, allowHTTP); err != nil {
			return Metadata{}, &session.EndpointError{Document: true, URL: redact.URL(c), Status: 200, Sent: true, At: time.Now(), Err: fmt.Errorf("token_endpoint: %w", err)}
		}
		return md, nil
	}
	return Metadata{}, last
}

// checkScheme allows https, and http to loopback or with allowHTTP.
func checkScheme(u *url.URL, allowHTTP bool) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (allowHTTP || redact.IsLoopback(u.Hostname())):
	case u.Scheme == "http":
		return ErrInsecureTokenURL
	default:
		return errors.New("scheme must be https")
	}
	return nil
}

func fetchMetadata(ctx context.Context, hc *http.Client, where string) (Metadata, error) {
	shown := redact.URL(where)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return Metadata{}, &session.EndpointError{Document: true, URL: shown, Err: err, At: time.Now()}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Metadata{}, &session.EndpointError{Document: true, URL: shown, Err: transportError(ctx, err), At: time.Now()}
	}
	defer resp.Body.Close()
	ee := &session.EndpointError{Document: true, URL: shown, Status: resp.StatusCode, RetryAfter: redact.Text(redact.Scrubber{}, resp.Header.Get("Retry-After"), 64), Sent: true, At: time.Now()}
	if resp.StatusCode != http.StatusOK {
		return Metadata{}, ee
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	switch {
	case err != nil:
		ee.Err = fmt.Errorf("reading the metadata: %w", transportError(ctx, err))
	case len(body) > MaxResponseBody:
		ee.Err = fmt.Errorf("metadata exceeds %d bytes", MaxResponseBody)
	}
	if ee.Err != nil {
		return Metadata{}, ee
	}
	var md Metadata
	if err := json.Unmarshal(trimBody(body), &md); err != nil {
		ee.Err = errors.New("metadata is not a JSON object with string members")
		return Metadata{}, ee
	}
	return md, nil
}
