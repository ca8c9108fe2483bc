package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
)

// The session's tests run against the fake token endpoint of package
// fakeidp, through testClient: the token endpoint client of package
// session/oauth (which imports this package, so these tests cannot) cut
// to what the fake answers.

type (
	fakeEndpoint = fakeidp.Endpoint
	fault        = fakeidp.Fault
	lockedBuffer = fakeidp.LockedBuffer
)

func newFakeEndpoint(ttl time.Duration) *fakeEndpoint { return fakeidp.New(ttl) }

const badGatewayPage = fakeidp.BadGatewayPage

var respond = fakeidp.Respond

const testURL = "https://auth.example/oauth/token"

// grantClientCredentials is testEndpoint.Grant for the client_credentials
// grant; "" is the refresh_token grant.
const grantClientCredentials = "client_credentials"

// testEndpoint configures a testClient.
type testEndpoint struct {
	TokenURL, RevocationURL string // "" means testURL, and no revocation endpoint
	ClientID, ClientSecret  string // "" means "app" and "app-secret"
	Grant                   string
	HTTPClient              *http.Client
}

// fakeClient is a Refresher and a Revoker on a token endpoint: it sends
// the grant's form with the client's id and secret in an HTTP Basic header
// and reads the answer as oauth.Client does — a token, or an
// *EndpointError with the answer's status, OAuth2 error, Retry-After and
// challenge, policy.ErrHTMLBody for a page instead of a token,
// policy.ErrMalformedJSON for a broken body, policy.ErrNoAnswer when the
// attempt's deadline ended it, and Sent when the request was written.
type fakeClient struct {
	e testEndpoint
}

// testClient returns the client of e on the endpoint fe (any
// http.RoundTripper), or on e.HTTPClient.
func testClient(t testing.TB, fe http.RoundTripper, e testEndpoint) *fakeClient {
	t.Helper()
	if e.TokenURL == "" {
		e.TokenURL = testURL
	}
	if e.ClientID == "" {
		e.ClientID, e.ClientSecret = "app", "app-secret"
	}
	if e.HTTPClient == nil {
		e.HTTPClient = &http.Client{Transport: fe}
	}
	return &fakeClient{e: e}
}

// Refresh implements Refresher.
func (c *fakeClient) Refresh(ctx context.Context, cur Token) (Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}}
	if c.e.Grant != "" {
		form.Set("grant_type", c.e.Grant)
	} else if cur.Refresh == "" {
		return Token{}, ErrNoRefreshToken
	} else {
		form.Set("refresh_token", cur.Refresh.Reveal())
	}
	status, body, ee := c.post(ctx, c.e.TokenURL, form)
	if ee.Err != nil || status < 200 || status > 299 {
		return Token{}, ee
	}
	var m map[string]any
	switch {
	case strings.HasPrefix(strings.TrimSpace(string(body)), "<"):
		ee.Err = policy.ErrHTMLBody
		return Token{}, ee
	case json.Unmarshal(body, &m) != nil:
		ee.Err = policy.ErrMalformedJSON
		return Token{}, ee
	case m["error"] != nil:
		ee.Code, _ = m["error"].(string)
		ee.Err = policy.NotTokenResponse("an OAuth2 error answer with a success status")
		return Token{}, ee
	}
	access, _ := m["access_token"].(string)
	if access == "" {
		ee.Err = policy.NotTokenResponse("access_token missing")
		return Token{}, ee
	}
	life := time.Hour
	if secs, ok := m["expires_in"].(float64); ok && secs > 0 {
		life = time.Duration(secs * float64(time.Second))
	}
	refresh, _ := m["refresh_token"].(string)
	typ, _ := m["token_type"].(string)
	tok := Token{Access: Secret(access), Refresh: Secret(refresh), Type: typ, Issued: ee.At, Expiry: ee.At.Add(life)}
	if tok.Refresh == "" && c.e.Grant == "" {
		tok.Refresh = cur.Refresh // RFC 6749 §6: the server may keep it
	}
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "token_type"} {
		delete(m, k)
	}
	return tok.WithExtra(m), nil
}

// Revoke implements Revoker at e.RevocationURL (RFC 7009).
func (c *fakeClient) Revoke(ctx context.Context, token Secret, hint string) error {
	if c.e.RevocationURL == "" {
		return ErrNoRevocationEndpoint
	}
	status, _, ee := c.post(ctx, c.e.RevocationURL, url.Values{"token": {token.Reveal()}, "token_type_hint": {hint}})
	if ee.Err != nil || status != 200 {
		return ee
	}
	return nil
}

// SameClient tells the session whether fb authenticates as c does (see
// WithFallback).
func (c *fakeClient) SameClient(fb Refresher) bool {
	o, ok := fb.(*fakeClient)
	return ok && o.e.TokenURL == c.e.TokenURL && o.e.ClientID == c.e.ClientID && o.e.ClientSecret == c.e.ClientSecret
}

// post sends form to target and returns the answer's status and body,
// and the answer as an *EndpointError (its Err set when there was none,
// its OAuth2 error read from the body).
func (c *fakeClient) post(ctx context.Context, target string, form url.Values) (int, []byte, *EndpointError) {
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+basicCredential(c.e.ClientID, c.e.ClientSecret))
	resp, err := c.e.HTTPClient.Do(req)
	ee := &EndpointError{URL: target, At: time.Now()}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = policy.ErrNoAnswer
		}
		ee.Err, ee.Sent = err, sent.Load()
		return 0, nil, ee
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ee.Status, ee.RetryAfter, ee.Sent = resp.StatusCode, resp.Header.Get("Retry-After"), true
	ee.Challenge = policy.Scheme(resp.Header.Get("WWW-Authenticate"))
	var e struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	if json.Unmarshal(body, &e) == nil {
		ee.Code, ee.Description, ee.ErrorURI = e.Code, e.Description, e.URI
	}
	return resp.StatusCode, body, ee
}

// basicCredential is the credential of an HTTP Basic header for a client,
// form-encoded first as RFC 6749 §2.3.1 requires.
func basicCredential(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// elsewhere is a login made outside the session, as login.Elsewhere's is:
// a Login with an Elsewhere method, which WithLogin looks for.
type elsewhere string

func (e elsewhere) Elsewhere() string { return string(e) }

func (e elsewhere) Login(context.Context) (Token, error) {
	return Token{}, errors.New("the session ran a login made elsewhere")
}
