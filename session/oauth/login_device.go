package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// GrantDeviceCode is the grant_type of the device flow's token requests
// (RFC 8628 §3.4).
const GrantDeviceCode Grant = "urn:ietf:params:oauth:grant-type:device_code"

// DefaultDeviceInterval is the polling interval of a device login whose
// server named none (RFC 8628 §3.2), and SlowDownStep what each slow_down
// answer adds to it for the rest of the login (§3.5).
const (
	DefaultDeviceInterval = 5 * time.Second
	SlowDownStep          = 5 * time.Second
)

// DeviceOptions configures LoginDevice. The zero value is ready.
type DeviceOptions struct {
	// Scopes are requested, space-separated as "scope"; nil means
	// Endpoint.Scopes. A refresh token usually takes "offline_access"
	// (OpenID Connect) or the server's equivalent.
	Scopes []string
	// Params are extra parameters of the device authorization request
	// (audience, resource, …), besides Endpoint.Params, which every request
	// carries.
	Params url.Values
	// Prompt shows the user where to approve the login. nil writes the
	// verification_uri_complete (or the verification_uri and the user
	// code) to os.Stderr. An error from it ends the login.
	Prompt func(DeviceCode) error
	// Classifier classifies the failures of the polling requests besides
	// the device flow's own answers (authorization_pending, slow_down,
	// access_denied, expired_token); nil means policy.DefaultClassifier.
	// A Permanent refusal ends the login, a Suspect one when it repeats
	// policy.SuspectRepeats times; a transient failure (5xx, 429, a
	// timeout, a refused connection while the server restarts, a proxy's
	// page) is retried.
	Classifier policy.Classifier
	// Policy paces the polling after transient failures: the next request
	// waits the larger of the interval, the policy's delay for the run of
	// failures and a Retry-After; nil means policy.Default(). A policy
	// that gives up ends the login with the last failure.
	Policy policy.Policy
	// RequestTimeout bounds each request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// DeviceCode is what the user needs of a device authorization response
// (RFC 8628 §3.2). The device_code itself, a credential, stays inside
// LoginDevice.
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
}

// LoginDevice logs in with the device authorization grant (RFC 8628), as a
// command-line tool or an agent without a browser of its own does: it asks
// the device authorization endpoint (Endpoint.DeviceAuthURL, or the
// issuer's device_authorization_endpoint) for a user code, shows it with
// opts.Prompt, and polls the token endpoint every interval until the user
// approved or denied the login at the verification URI, the code expired
// or ctx ended. authorization_pending is waited for; each slow_down adds
// SlowDownStep to the interval for the rest of the login; access_denied
// and expired_token end it with a *LoginError matching ErrAccessDenied or
// ErrExpiredToken. A polling request that fails transiently, as classified
// by opts.Classifier (a 5xx, a timeout, a refused connection while the
// server restarts), is retried at the interval, paced by opts.Policy. The
// client authenticates as for a refresh (a public client sends its
// client_id), and Endpoint.OnToken is called with the token.
//
// The returned Token, with its refresh token if the server issued one, is
// what New starts a Session from or SetToken installs. Every failure is a
// *LoginError.
func LoginDevice(ctx context.Context, c *Client, opts DeviceOptions) (session.Token, error) {
	fail := func(err error) (session.Token, error) { return session.Token{}, loginFailure("device", err) }
	if c.e.ClientID == "" {
		return fail(errors.New("a login needs Endpoint.ClientID"))
	}
	deviceURL, err := c.loginEndpoint(ctx, c.e.DeviceAuthURL, "device authorization endpoint",
		func(md *Metadata) string { return md.DeviceAuthorizationEndpoint })
	if err != nil {
		return fail(err)
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = session.DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	code, device, err := c.deviceAuthorization(rctx, deviceURL, opts)
	cancel()
	if err != nil {
		return fail(err)
	}
	prompt := opts.Prompt
	if prompt == nil {
		prompt = func(d DeviceCode) error { return writePrompt(os.Stderr, d) }
	}
	if err := prompt(code); err != nil {
		return fail(fmt.Errorf("prompt: %w", err))
	}
	tok, err := c.pollDevice(ctx, device, code, opts, timeout)
	if err != nil {
		return session.Token{}, err
	}
	if c.e.OnToken != nil {
		c.e.OnToken(tok)
	}
	return tok, nil
}

// writePrompt is the default DeviceOptions.Prompt.
func writePrompt(w io.Writer, d DeviceCode) error {
	var err error
	if d.VerificationURIComplete != "" {
		_, err = fmt.Fprintf(w, "To sign in, open %s\nand check that it shows the code %s.\n", d.VerificationURIComplete, d.UserCode)
	} else {
		_, err = fmt.Fprintf(w, "To sign in, open %s\nand enter the code %s.\n", d.VerificationURI, d.UserCode)
	}
	return err
}

// deviceAuthorization sends the device authorization request and reads its
// answer: what the user needs, and the device code.
func (c *Client) deviceAuthorization(ctx context.Context, deviceURL string, opts DeviceOptions) (DeviceCode, string, error) {
	tokenURL, _, urlSecrets, err := c.endpoint(ctx)
	if err != nil {
		return DeviceCode{}, "", err
	}
	form := url.Values{}
	for k, v := range opts.Params {
		form[k] = v
	}
	if scopes := opts.Scopes; scopes != nil || len(c.e.Scopes) > 0 {
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
		return DeviceCode{}, "", err
	}
	if !a.worked() {
		return DeviceCode{}, "", a.refusal()
	}
	code, device, err := parseDeviceCode(a.body, a.ee.At)
	if err != nil {
		a.ee.Err = err
		return DeviceCode{}, "", a.ee
	}
	return code, device, nil
}

// parseDeviceCode reads a device authorization response received at now.
// Its errors never quote the body.
func parseDeviceCode(body []byte, now time.Time) (DeviceCode, string, error) {
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
		return DeviceCode{}, "", errors.New("not a device authorization response: not a JSON object with the members of RFC 8628 §3.2")
	}
	if r.VerificationURI == "" {
		r.VerificationURI = r.VerificationURL
	}
	switch {
	case r.DeviceCode == "":
		return DeviceCode{}, "", errors.New("not a device authorization response: device_code missing")
	case r.UserCode == "" || !printable(r.UserCode):
		return DeviceCode{}, "", errors.New("not a device authorization response: user_code missing or not printable")
	case !webURL(r.VerificationURI):
		return DeviceCode{}, "", errors.New("not a device authorization response: verification_uri missing or not an http(s) URL")
	}
	d := DeviceCode{UserCode: r.UserCode, VerificationURI: r.VerificationURI, Interval: DefaultDeviceInterval}
	if webURL(r.VerificationURIComplete) {
		d.VerificationURIComplete = r.VerificationURIComplete
	}
	if life, ok, err := parseExpiresIn("expires_in", r.ExpiresIn); err != nil {
		return DeviceCode{}, "", err
	} else if ok {
		d.Expiry = now.Add(life)
	}
	if iv, ok, err := parseExpiresIn("interval", r.Interval); err != nil {
		return DeviceCode{}, "", err
	} else if ok {
		d.Interval = max(iv, time.Second)
	}
	return d, r.DeviceCode, nil
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

// pollDevice polls the token endpoint until the device login ends.
func (c *Client) pollDevice(ctx context.Context, device string, code DeviceCode, opts DeviceOptions, timeout time.Duration) (session.Token, error) {
	classifier := opts.Classifier
	if classifier == nil {
		classifier = policy.DefaultClassifier
	}
	pol := opts.Policy
	if pol == nil {
		pol = policy.Default()
	}
	form := url.Values{"grant_type": {string(GrantDeviceCode)}, "device_code": {device}}
	interval, wait := code.Interval, code.Interval
	var (
		failures    int           // transient failures in a row
		firstFail   time.Time     // when that run began
		prevDelay   time.Duration // the policy's last delay
		suspect     string        // the cause of the last Suspect refusal
		suspects    int           // how many came in a row
		lastFailure error
	)
	for {
		if !code.Expiry.IsZero() && !c.clk.Now().Add(wait).Before(code.Expiry) {
			wait = max(code.Expiry.Sub(c.clk.Now()), 0)
			if err := c.sleep(ctx, wait); err != nil {
				return session.Token{}, &LoginError{Flow: "device", Err: err}
			}
			le := &LoginError{Flow: "device", Code: "expired_token", Description: "the device code's expires_in passed without an approval"}
			if lastFailure != nil {
				le.Err = fmt.Errorf("the last polling request failed: %w", lastFailure)
			}
			return session.Token{}, le
		}
		if err := c.sleep(ctx, wait); err != nil {
			return session.Token{}, &LoginError{Flow: "device", Err: err}
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		tok, err := c.tokenRequest(rctx, form, []string{device})
		cancel()
		if err == nil {
			return tok, nil
		}
		if ctx.Err() != nil {
			return session.Token{}, &LoginError{Flow: "device", Err: ctx.Err()}
		}
		var ee *session.EndpointError
		if !errors.As(err, &ee) {
			return session.Token{}, loginFailure("device", err)
		}
		wait = interval
		switch ee.Code {
		case "authorization_pending":
			failures, suspects, lastFailure = 0, 0, nil
			continue
		case "slow_down":
			interval += SlowDownStep
			failures, suspects, lastFailure, wait = 0, 0, nil, interval
			continue
		case "access_denied", "expired_token":
			return session.Token{}, loginFailure("device", err)
		}
		v := classifier.Classify(ee.Outcome())
		switch v.Class {
		case policy.OK:
			return session.Token{}, loginFailure("device", err) // a classifier that calls a failure a success
		case policy.Permanent:
			return session.Token{}, loginFailure("device", err)
		case policy.Suspect:
			if v.Cause == suspect {
				suspects++
			} else {
				suspect, suspects = v.Cause, 1
			}
			if suspects >= policy.SuspectRepeats {
				return session.Token{}, loginFailure("device", err)
			}
		default:
			suspects = 0
		}
		if failures == 0 {
			firstFail, prevDelay = c.clk.Now(), 0
		}
		failures++
		lastFailure = err
		d, ok := pol.Delay(policy.Attempt{N: failures, Elapsed: c.clk.Now().Sub(firstFail), Prev: prevDelay, Rand: rand.Uint64()})
		if !ok {
			return session.Token{}, loginFailure("device", fmt.Errorf("the retry policy gave up after %d failed polling requests: %w", failures, err))
		}
		prevDelay = d
		wait = max(interval, d, v.RetryAfter)
	}
}

// sleep waits d on the Client's clock, or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
