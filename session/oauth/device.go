package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// The device authorization grant (RFC 8628), as package session/login
// drives it: DeviceAuth asks for the codes, DeviceToken polls once.

// GrantDeviceCode is the grant_type of the device flow's token requests
// (RFC 8628 §3.4).
const GrantDeviceCode Grant = "urn:ietf:params:oauth:grant-type:device_code"

// DefaultDeviceInterval is the polling interval of a device login whose
// server named none (RFC 8628 §3.2).
const DefaultDeviceInterval = 5 * time.Second

// DeviceCode is what a device authorization response gives (RFC 8628
// §3.2): what the user needs, and the device code itself, a credential,
// which stays inside: DeviceToken presents it.
type DeviceCode struct {
	// UserCode is the code the user confirms or enters.
	UserCode string
	// VerificationURI is where the user enters it.
	VerificationURI string
	// VerificationURIComplete, when the server sent one, is the
	// verification URI with the user code in it: the one to show (or
	// render as a QR code), since the user then only confirms the code.
	VerificationURIComplete string
	// Expiry is when the codes expire; zero when the server did not say.
	Expiry time.Time
	// Interval is the polling interval the server asked for, or
	// DefaultDeviceInterval.
	Interval time.Duration

	// device is the device_code.
	device string
}

// DeviceAuth sends the device authorization request (RFC 8628 §3.1) to
// the device authorization endpoint (Endpoint.DeviceAuthURL, or the
// issuer's device_authorization_endpoint), authenticated as a token
// request is, with scopes (nil means Endpoint.Scopes) and params (audience,
// resource, …; Endpoint.Params are added as to every request), and returns
// what the server answered. A refusal, or an answer that is not a device
// authorization response, is a *session.EndpointError; a Client without a
// ClientID cannot log in.
func (c *Client) DeviceAuth(ctx context.Context, scopes []string, params url.Values) (DeviceCode, error) {
	if c.e.ClientID == "" {
		return DeviceCode{}, errors.New("oauth: a login needs Endpoint.ClientID")
	}
	deviceURL, err := c.loginEndpoint(ctx, c.e.DeviceAuthURL, "device authorization endpoint",
		func(md *Metadata) string { return md.DeviceAuthorizationEndpoint })
	if err != nil {
		return DeviceCode{}, err
	}
	tokenURL, _, urlSecrets, err := c.endpoint(ctx)
	if err != nil {
		return DeviceCode{}, err
	}
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if scopes != nil || len(c.e.Scopes) > 0 {
		if scopes == nil {
			scopes = c.e.Scopes
		}
		form.Set("scope", strings.Join(scopes, " "))
	}
	shown := redact.URL(deviceURL)
	u, _ := url.Parse(deviceURL)
	for _, v := range u.Query() {
		urlSecrets = append(urlSecrets, v...)
	}
	a, err := c.send(ctx, deviceURL, shown, tokenURL, form, urlSecrets)
	if err != nil {
		return DeviceCode{}, err
	}
	if !a.worked() {
		return DeviceCode{}, a.refusal()
	}
	code, err := parseDeviceCode(a.body, a.ee.At)
	if err != nil {
		a.ee.Err = err
		return DeviceCode{}, a.ee
	}
	return code, nil
}

// DeviceToken asks the token endpoint once for the token of code (RFC 8628
// §3.4). Until the user approved the login the answer is a
// *session.EndpointError whose Code says why (§3.5): authorization_pending,
// slow_down, access_denied, expired_token. Endpoint.OnToken is called with
// the token.
func (c *Client) DeviceToken(ctx context.Context, code DeviceCode) (session.Token, error) {
	if code.device == "" {
		return session.Token{}, errors.New("oauth: DeviceToken needs a DeviceCode from DeviceAuth")
	}
	form := url.Values{"grant_type": {string(GrantDeviceCode)}, "device_code": {code.device}}
	tok, err := c.tokenRequest(ctx, form, []string{code.device})
	if err != nil {
		return session.Token{}, err
	}
	if c.e.OnToken != nil {
		c.e.OnToken(tok)
	}
	return tok, nil
}

// parseDeviceCode reads a device authorization response received at now.
// Its errors never quote the body.
func parseDeviceCode(body []byte, now time.Time) (DeviceCode, error) {
	var r struct {
		DeviceCode              string          `json:"device_code"`
		UserCode                string          `json:"user_code"`
		VerificationURI         string          `json:"verification_uri"`
		VerificationURL         string          `json:"verification_url"` // Google's spelling
		VerificationURIComplete string          `json:"verification_uri_complete"`
		ExpiresIn               json.RawMessage `json:"expires_in"`
		Interval                json.RawMessage `json:"interval"`
	}
	body = trimBody(body)
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &r) != nil {
		return DeviceCode{}, errors.New("not a device authorization response: not a JSON object with the members of RFC 8628 §3.2")
	}
	if r.VerificationURI == "" {
		r.VerificationURI = r.VerificationURL
	}
	switch {
	case r.DeviceCode == "":
		return DeviceCode{}, errors.New("not a device authorization response: device_code missing")
	case r.UserCode == "" || !printable(r.UserCode):
		return DeviceCode{}, errors.New("not a device authorization response: user_code missing or not printable")
	case !webURL(r.VerificationURI):
		return DeviceCode{}, errors.New("not a device authorization response: verification_uri missing or not an http(s) URL")
	}
	d := DeviceCode{UserCode: r.UserCode, VerificationURI: r.VerificationURI, Interval: DefaultDeviceInterval, device: r.DeviceCode}
	if webURL(r.VerificationURIComplete) {
		d.VerificationURIComplete = r.VerificationURIComplete
	}
	if life, ok, err := parseExpiresIn("expires_in", r.ExpiresIn); err != nil {
		return DeviceCode{}, err
	} else if ok {
		d.Expiry = now.Add(life)
	}
	if iv, ok, err := parseExpiresIn("interval", r.Interval); err != nil {
		return DeviceCode{}, err
	} else if ok {
		d.Interval = max(iv, time.Second)
	}
	return d, nil
}

// printable reports whether s, shown to the user, has no control or
// format character that could rewrite a terminal.
func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// webURL reports whether s is an absolute http or https URL without
// characters a terminal could take for commands.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && printable(s)
}

// Format implements fmt.Formatter: every verb prints what the user needs,
// never the device code, a credential.
func (d DeviceCode) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "oauth.DeviceCode{UserCode: %q, VerificationURI: %q, VerificationURIComplete: %q, Expiry: %s, Interval: %v}",
		d.UserCode, d.VerificationURI, d.VerificationURIComplete, d.Expiry.Format(time.RFC3339), d.Interval)
}
