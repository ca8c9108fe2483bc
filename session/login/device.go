package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// SlowDownStep is what each slow_down answer adds to a device login's
// polling interval for the rest of the login (RFC 8628 §3.5).
const SlowDownStep = 5 * time.Second

// DeviceOptions configures Device. The zero value is ready.
type DeviceOptions struct {
	// Scopes are requested, space-separated as "scope"; nil means
	// oauth.Endpoint.Scopes. A refresh token usually takes "offline_access"
	// (OpenID Connect) or the server's equivalent.
	Scopes []string
	// Params are extra parameters of the device authorization request
	// (audience, resource, …), besides oauth.Endpoint.Params, which every request
	// carries.
	Params url.Values
	// Prompt shows the user where to approve the login. nil writes the
	// verification_uri_complete (or the verification_uri and the user
	// code) to os.Stderr. An error from it ends the login.
	Prompt func(oauth.DeviceCode) error
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
	// RequestTimeout bounds each request; 0 means
	// states.DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Device logs in with the device authorization grant (RFC 8628), as a
// command-line tool or an agent without a browser of its own does: it asks
// the device authorization endpoint (oauth.Endpoint.DeviceAuthURL, or the
// issuer's device_authorization_endpoint) for a user code
// (oauth.Client.DeviceAuth), shows it with opts.Prompt, and polls the token
// endpoint every interval (oauth.Client.DeviceToken) until the user
// approved or denied the login at the verification URI, the code expired
// or ctx ended. authorization_pending is waited for; each slow_down adds
// SlowDownStep to the interval for the rest of the login; access_denied
// and expired_token end it with an *Error matching ErrAccessDenied or
// ErrExpiredToken. A polling request that fails transiently, as classified
// by opts.Classifier (a 5xx, a timeout, a refused connection while the
// server restarts), is retried at the interval, paced by opts.Policy. The
// client authenticates as for a refresh (a public client sends its
// client_id), and oauth.Endpoint.OnToken is called with the token. The
// client's clock (oauth.Endpoint.Clock) measures the polling.
//
// The returned Token, with its refresh token if the server issued one, is
// what session.New starts a Session from or Session.SetToken installs.
// Every failure is an *Error.
func Device(ctx context.Context, c *oauth.Client, opts DeviceOptions) (session.Token, error) {
	fail := func(err error) (session.Token, error) { return session.Token{}, failure("device", err) }
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = states.DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	code, err := c.DeviceAuth(rctx, opts.Scopes, opts.Params)
	cancel()
	if err != nil {
		return fail(err)
	}
	prompt := opts.Prompt
	if prompt == nil {
		prompt = func(d oauth.DeviceCode) error { return writePrompt(os.Stderr, d) }
	}
	if err := prompt(code); err != nil {
		return fail(fmt.Errorf("prompt: %w", err))
	}
	return pollDevice(ctx, c, c.Endpoint().Clock, code, opts, timeout)
}

// writePrompt is the default DeviceOptions.Prompt.
func writePrompt(w io.Writer, d oauth.DeviceCode) error {
	var err error
	if d.VerificationURIComplete != "" {
		_, err = fmt.Fprintf(w, "To sign in, open %s\nand check that it shows the code %s.\n", d.VerificationURIComplete, d.UserCode)
	} else {
		_, err = fmt.Fprintf(w, "To sign in, open %s\nand enter the code %s.\n", d.VerificationURI, d.UserCode)
	}
	return err
}

// pollDevice polls the token endpoint until the device login ends.
func pollDevice(ctx context.Context, c *oauth.Client, clk clock.Clock, code oauth.DeviceCode, opts DeviceOptions, timeout time.Duration) (session.Token, error) {
	classifier := opts.Classifier
	if classifier == nil {
		classifier = policy.DefaultClassifier
	}
	pol := opts.Policy
	if pol == nil {
		pol = policy.Default()
	}
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
		if !code.Expiry.IsZero() && !clk.Now().Add(wait).Before(code.Expiry) {
			wait = max(code.Expiry.Sub(clk.Now()), 0)
			if err := sleep(ctx, clk, wait); err != nil {
				return session.Token{}, &Error{Flow: "device", Err: err}
			}
			le := &Error{Flow: "device", Code: "expired_token", Description: "the device code's expires_in passed without an approval"}
			if lastFailure != nil {
				le.Err = fmt.Errorf("the last polling request failed: %w", lastFailure)
			}
			return session.Token{}, le
		}
		if err := sleep(ctx, clk, wait); err != nil {
			return session.Token{}, &Error{Flow: "device", Err: err}
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		tok, err := c.DeviceToken(rctx, code)
		cancel()
		if err == nil {
			return tok, nil
		}
		if ctx.Err() != nil {
			return session.Token{}, &Error{Flow: "device", Err: ctx.Err()}
		}
		var ee *session.EndpointError
		if !errors.As(err, &ee) {
			return session.Token{}, failure("device", err)
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
			return session.Token{}, failure("device", err)
		}
		v := classifier.Classify(ee.Outcome())
		switch v.Class {
		case policy.OK:
			return session.Token{}, failure("device", err) // a classifier that calls a failure a success
		case policy.Permanent:
			return session.Token{}, failure("device", err)
		case policy.Suspect:
			if v.Cause == suspect {
				suspects++
			} else {
				suspect, suspects = v.Cause, 1
			}
			if suspects >= policy.SuspectRepeats {
				return session.Token{}, failure("device", err)
			}
		default:
			suspects = 0
		}
		if failures == 0 {
			firstFail, prevDelay = clk.Now(), 0
		}
		failures++
		lastFailure = err
		d, ok := pol.Delay(policy.Attempt{N: failures, Elapsed: clk.Now().Sub(firstFail), Prev: prevDelay, Rand: rand.Uint64()})
		if !ok {
			return session.Token{}, failure("device", fmt.Errorf("the retry policy gave up after %d failed polling requests: %w", failures, err))
		}
		prevDelay = d
		wait = max(interval, d, v.RetryAfter)
	}
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
