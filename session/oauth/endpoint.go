package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/benbjohnson/clock"
)

// MaxResponseBody bounds how much of a token endpoint's answer is read. A
// token response is a few kilobytes; a larger body is a proxy's page or an
// attack, and reading it whole would let a server exhaust the client's memory.
const MaxResponseBody = 1 << 20

// DefaultTTL is the lifetime assumed for a token whose response carries
// neither expires_in nor a JWT exp claim, unless Endpoint.DefaultTTL says.
const DefaultTTL = time.Hour

// Grant is an OAuth2 grant type the Client can use (RFC 6749).
type Grant string

// The grants the Client supports.
const (
	// GrantRefreshToken exchanges the session's refresh token (§6).
	GrantRefreshToken Grant = "refresh_token"
	// GrantClientCredentials authenticates as the client itself (§4.4); it
	// needs no refresh token, which makes it a natural fallback grant.
	GrantClientCredentials Grant = "client_credentials"
	// GrantTokenExchange exchanges a subject token for another token (RFC
	// 8693): Endpoint.SubjectToken supplies it at every request.
	GrantTokenExchange Grant = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token types of RFC 8693 §3, for SubjectToken, ActorToken and
// RequestedTokenType.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// A TokenSupplier supplies a token and its RFC 8693 type for a token
// exchange, fresh for every request (a workload's projected token, the
// caller's access token).
type TokenSupplier func(ctx context.Context) (token session.Secret, tokenType string, err error)

// AuthStyle is how the client authenticates to the token endpoint.
type AuthStyle uint8

const (
	// AuthAutoDetect, the zero value, detects the style as
	// golang.org/x/oauth2's AuthStyleAutoDetect does: a Client first sends
	// the secret in an HTTP Basic header, and when the server answers
	// invalid_client, sends the same request once more with the secret in
	// the body; it remembers the style of its first request that succeeded
	// and uses only that one from then on. Safe: an invalid_client answer
	// comes before the server acts on the grant, so a rotating refresh
	// token is not spent by the first try. A client without a secret sends
	// its client_id in the body, and one with an Assertion its assertion:
	// there is nothing to detect.
	AuthAutoDetect AuthStyle = iota
	// AuthBasic sends the client id and secret in an HTTP Basic
	// Authorization header, form-encoded first as RFC 6749 §2.3.1 requires,
	// and nothing else: an invalid_client answer stops the session as
	// misconfigured.
	AuthBasic
	// AuthBody sends client_id and client_secret as form parameters.
	AuthBody
)

// Endpoint configures a Client.
type Endpoint struct {
	// TokenURL is the token endpoint. It must be HTTPS, or loopback HTTP
	// (for local development), unless AllowHTTP is set.
	TokenURL string
	// Issuer, when TokenURL is empty, is discovered (see Discover) at the
	// first request: the Client then uses the metadata's token_endpoint. A
	// failed discovery is a transient *session.EndpointError, retried like a
	// refresh. The login flows find their endpoints the same way when
	// AuthURL or DeviceAuthURL is empty, even with a TokenURL.
	Issuer string
	// AuthURL is the authorization endpoint, where login.Browser sends the
	// user's browser; DeviceAuthURL is the device authorization endpoint
	// login.Device asks for a user code (RFC 8628). Empty means the
	// metadata's authorization_endpoint and device_authorization_endpoint
	// of Issuer. Like TokenURL, each must be HTTPS or loopback HTTP unless
	// AllowHTTP is set.
	AuthURL, DeviceAuthURL string
	// RevocationURL is the revocation endpoint (RFC 7009), where Revoke
	// and Session.Logout revoke tokens; empty means the metadata's
	// revocation_endpoint of Issuer. Like TokenURL, it must be HTTPS or
	// loopback HTTP unless AllowHTTP is set.
	RevocationURL string
	// ClientID and ClientSecret identify the client; a public client has no
	// secret and sends its id in the body.
	ClientID     string
	ClientSecret session.Secret
	// AuthStyle selects how a client secret is sent: AuthAutoDetect (the
	// default: Basic, then the body if the server refuses Basic), AuthBasic
	// or AuthBody.
	AuthStyle AuthStyle
	// Assertion, when set, authenticates the client with an assertion
	// instead of ClientSecret (RFC 7521): PrivateKeyJWT or AssertionFile.
	Assertion ClientAssertion
	// SubjectToken, ActorToken and RequestedTokenType parameterise
	// GrantTokenExchange; SubjectToken is required for it.
	SubjectToken       TokenSupplier
	ActorToken         TokenSupplier
	RequestedTokenType string
	// Grant is the grant to request; "" means GrantRefreshToken.
	Grant Grant
	// Scopes, when set, are sent space-separated as "scope" with every
	// refresh, and are the scopes login.Device and login.Browser ask for
	// unless their options name others.
	Scopes []string
	// Params are extra form parameters (audience, resource, …) of every
	// request to the token endpoint, the login flows' included, and of
	// the device authorization request. They cannot override grant_type,
	// refresh_token, scope or client credentials.
	Params url.Values
	// HTTPClient sends the requests; nil means a client that does not follow
	// redirects (a redirect from a token endpoint is a captive portal or a
	// misconfiguration, and is reported as what it is).
	HTTPClient *http.Client
	// AllowHTTP permits a plain-HTTP token URL on a non-loopback host.
	AllowHTTP bool
	// DefaultTTL is the lifetime assumed when a response says nothing about
	// expiry; 0 means DefaultTTL.
	DefaultTTL time.Duration
	// OnToken, if set, is called with every new token pair the endpoint
	// issues, before Refresh (or Exchange, DeviceToken) returns, so a
	// caller can persist a rotated refresh token. It must not block for
	// long.
	OnToken func(session.Token)
	// Clock stamps Issued and Expiry, and measures the device login's
	// polling and the browser login's timeout; nil means the real clock.
	Clock clock.Clock
}

// Client requests tokens from an OAuth2 token endpoint. It is a
// session.Refresher and a session.Revoker, safe for concurrent use, and
// keeps no token itself.
type Client struct {
	e    Endpoint
	url  string
	hc   *http.Client
	clk  clock.Clock
	ttl  time.Duration
	form url.Values
	// secrets are the client's own secrets, which no text from the server
	// may carry into an error: the client secret, the Basic credential,
	// the Params that are credentials (see credentialParams), and what the
	// URLs it shows redact (the userinfo password, the query's values).
	secrets []string

	// disc holds the token endpoint discovered from Endpoint.Issuer; nil
	// with a TokenURL. A pointer, so that a Client printed by value copies
	// no lock.
	disc *discovered
	// style is the AuthStyle that AuthAutoDetect found the server to
	// accept, or AuthAutoDetect before that. A pointer for the same reason.
	style *atomic.Uint32
}

// discovered is the token endpoint found by discovery, once found.
type discovered struct {
	mu              sync.Mutex
	tokenURL, shown string
	secrets         []string // the query values of tokenURL
	// md is the issuer's metadata, once fetched (for the token endpoint or
	// for a login flow's).
	md *Metadata
}

// credentialParams are the Endpoint.Params whose values are credentials:
// assertions (RFC 7521, 7523), token-exchange tokens (RFC 8693) and a
// resource owner's password.
var credentialParams = []string{"client_assertion", "assertion", "subject_token", "actor_token", "password"}

// reserved are the form parameters the Client sets itself.
var reserved = []string{"grant_type", "refresh_token", "scope", "client_id", "client_secret"}

// reservedExchange are the form parameters a token exchange sets itself.
var reservedExchange = []string{"subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"}

// reservedAssertion are the form parameters a ClientAssertion sets.
var reservedAssertion = []string{"client_assertion", "client_assertion_type"}

// NewClient validates e and returns a Client for it.
func NewClient(e Endpoint) (*Client, error) {
	// Errors never quote e.TokenURL itself: it may carry a password or an
	// API key in its query, and url.URL.Redacted misses a password in an
	// opaque URL ("user:pw@host").
	raw := e.TokenURL
	if raw == "" && e.Issuer != "" {
		raw = e.Issuer // the token URL comes from its metadata
	}
	shown := redact.RawURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// A *url.Error quotes the raw URL: keep only the parser's reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("oauth: token URL %s: %w", shown, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (e.AllowHTTP || redact.IsLoopback(u.Hostname())):
	case u.Scheme == "http":
		return nil, fmt.Errorf("%w: %s (set Endpoint.AllowHTTP to permit it)", ErrInsecureTokenURL, shown)
	default:
		return nil, fmt.Errorf("oauth: token URL %s: scheme must be https", shown)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("oauth: token URL %s has no host", shown)
	}
	switch e.Grant {
	case "":
		e.Grant = GrantRefreshToken
	case GrantRefreshToken, GrantClientCredentials:
	case GrantTokenExchange:
		if e.SubjectToken == nil {
			return nil, errors.New("oauth: the token-exchange grant needs Endpoint.SubjectToken")
		}
	default:
		return nil, fmt.Errorf("oauth: unsupported grant %q (want refresh_token, client_credentials or token exchange)", e.Grant)
	}
	if e.Assertion != nil && e.ClientSecret != "" {
		return nil, errors.New("oauth: Endpoint.Assertion and ClientSecret exclude each other")
	}
	if e.Assertion != nil && e.ClientID == "" {
		return nil, errors.New("oauth: client assertions need a ClientID")
	}
	if e.Grant == GrantClientCredentials && e.ClientID == "" {
		return nil, errors.New("oauth: the client_credentials grant needs a ClientID")
	}
	for _, other := range []struct{ name, raw string }{{"AuthURL", e.AuthURL}, {"DeviceAuthURL", e.DeviceAuthURL},
		{"RevocationURL", e.RevocationURL}} {
		if other.raw == "" {
			continue
		}
		ou, err := url.Parse(other.raw)
		if err != nil || ou.Host == "" {
			return nil, fmt.Errorf("oauth: Endpoint.%s %s is not an absolute URL", other.name, redact.RawURL(other.raw))
		}
		if err := checkScheme(ou, e.AllowHTTP); err != nil {
			return nil, fmt.Errorf("oauth: Endpoint.%s %s: %w", other.name, redact.URL(other.raw), err)
		}
	}
	if e.AuthStyle > AuthBody {
		return nil, fmt.Errorf("oauth: unknown AuthStyle %d", e.AuthStyle)
	}
	taken := append([]string(nil), reserved...)
	if e.Grant == GrantTokenExchange {
		taken = append(taken, reservedExchange...)
	}
	if e.Assertion != nil {
		taken = append(taken, reservedAssertion...)
	}
	for _, k := range taken {
		if _, ok := e.Params[k]; ok {
			return nil, fmt.Errorf("oauth: Endpoint.Params may not set %q", k)
		}
	}
	c := &Client{e: e, url: redact.URL(raw), hc: e.HTTPClient, clk: e.Clock, ttl: e.DefaultTTL, style: new(atomic.Uint32)}
	if e.Issuer != "" {
		c.disc = &discovered{}
	}
	if c.hc == nil {
		c.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.clk == nil {
		c.clk = clock.New()
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	c.form = url.Values{}
	for k, v := range e.Params {
		c.form[k] = append([]string(nil), v...)
	}
	if secret := e.ClientSecret.Reveal(); secret != "" {
		c.secrets = append(c.secrets, secret, basicCredential(e.ClientID, secret))
	}
	for _, k := range credentialParams {
		c.secrets = append(c.secrets, e.Params[k]...)
	}
	if pw, ok := u.User.Password(); ok {
		c.secrets = append(c.secrets, pw)
	}
	for _, v := range u.Query() {
		c.secrets = append(c.secrets, v...)
	}
	return c, nil
}

// basicCredential is the credential of an HTTP Basic Authorization header
// for a client, form-encoded first as RFC 6749 §2.3.1 requires.
func basicCredential(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// URL returns the token endpoint, with any password in it and the values
// of its query redacted ("?key=xxxxx"); before a discovery, the issuer.
func (c *Client) URL() string {
	if d := c.disc; d != nil && c.e.TokenURL == "" {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.shown != "" {
			return d.shown
		}
	}
	return c.url
}

// endpoint returns the token URL, the form of it that messages show, and
// the secrets in it, discovering it from Endpoint.Issuer at the first
// request that needs it.
func (c *Client) endpoint(ctx context.Context) (string, string, []string, error) {
	d := c.disc
	if d == nil || c.e.TokenURL != "" {
		return c.e.TokenURL, c.url, nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tokenURL == "" {
		md, err := d.metadataLocked(ctx, c)
		if err != nil {
			return "", c.url, nil, err
		}
		d.tokenURL, d.shown = md.TokenEndpoint, redact.URL(md.TokenEndpoint)
		u, _ := url.Parse(md.TokenEndpoint)
		for _, v := range u.Query() {
			d.secrets = append(d.secrets, v...)
		}
	}
	return d.tokenURL, d.shown, d.secrets, nil
}

// metadataLocked returns the issuer's metadata, fetching it the first time.
// d.mu is held.
func (d *discovered) metadataLocked(ctx context.Context, c *Client) (*Metadata, error) {
	if d.md == nil {
		md, err := Discover(ctx, c.hc, c.e.Issuer, c.e.AllowHTTP)
		if err != nil {
			return nil, err
		}
		d.md = &md
	}
	return d.md, nil
}

// loginEndpoint returns the login flow's endpoint: configured (AuthURL or
// DeviceAuthURL, passed as configured) or, without it, the member of the
// issuer's metadata that member picks. name is the endpoint's name for
// errors.
func (c *Client) loginEndpoint(ctx context.Context, configured, name string, member func(*Metadata) string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	d := c.disc
	if d == nil {
		return "", fmt.Errorf("oauth: no %s: set Endpoint.Issuer to discover it, or configure it in Endpoint", name)
	}
	d.mu.Lock()
	md, err := d.metadataLocked(ctx, c)
	d.mu.Unlock()
	if err != nil {
		return "", err
	}
	raw := member(md)
	if raw == "" {
		return "", fmt.Errorf("oauth: the metadata of %s names no %s", redact.URL(c.e.Issuer), name)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("oauth: the metadata's %s %s is not an absolute URL", name, redact.RawURL(raw))
	}
	if err := checkScheme(u, c.e.AllowHTTP); err != nil {
		return "", fmt.Errorf("oauth: the metadata's %s %s: %w", name, redact.URL(raw), err)
	}
	return raw, nil
}

// SameClient reports whether other is a *Client that authenticates to the
// authorization server as c does: the same token endpoint (TokenURL, or the
// Issuer that discovery starts from), client id, secret, authentication
// style and client assertion (the same pointer; none for both). A Session
// asks its Refresher this of its fallback grant (session.WithFallback):
// when the server refuses the client itself, a fallback that authenticates
// as the same client is not tried (states.Config.FallbackSameClient).
func (c *Client) SameClient(other session.Refresher) bool {
	f, ok := other.(*Client)
	if !ok || c == nil || f == nil {
		return false
	}
	a, b := &c.e, &f.e
	if a.TokenURL != b.TokenURL || a.Issuer != b.Issuer || a.ClientID != b.ClientID ||
		a.ClientSecret != b.ClientSecret || a.AuthStyle != b.AuthStyle {
		return false
	}
	if a.Assertion == nil || b.Assertion == nil {
		return a.Assertion == nil && b.Assertion == nil
	}
	// Only pointers compare without the risk of a panic.
	t := reflect.TypeOf(a.Assertion)
	return t == reflect.TypeOf(b.Assertion) && t.Kind() == reflect.Pointer && a.Assertion == b.Assertion
}
