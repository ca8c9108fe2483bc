package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session"
)

// The first token: a Session keeps a token pair alive, and LoginDevice and
// LoginBrowser obtain the first one, as a command-line tool or an agent
// logs in (RFC 8628's device authorization grant; the authorization code
// grant with PKCE through a loopback redirect, RFC 8252). Both return a
// Token that New starts from or SetToken installs.

// DefaultLoginTimeout is how long LoginBrowser waits for the browser to
// come back unless BrowserOptions.Timeout says otherwise.
const DefaultLoginTimeout = 5 * time.Minute

// ErrAccessDenied is matched (with errors.Is) by the *LoginError of a login
// that the user or the authorization server refused: access_denied, from
// the device flow's polling or in the browser flow's redirect.
var ErrAccessDenied = errors.New("oauth: login denied")

// ErrExpiredToken is matched (with errors.Is) by the *LoginError of a
// device login whose code expired before the user approved it: the
// server's expired_token, or the code's expires_in passed while polling.
var ErrExpiredToken = errors.New("oauth: login code expired")

// ErrLoginTimeout is matched (with errors.Is) by the *LoginError of a
// browser login whose redirect did not come within BrowserOptions.Timeout.
var ErrLoginTimeout = errors.New("oauth: login timed out")

// LoginError is a login flow that ended without a token. It matches
// ErrAccessDenied or ErrExpiredToken by its Code, ErrLoginTimeout by its
// Err, and whatever Err matches (an *session.EndpointError for a request the
// authorization server refused or never answered, a context's error).
type LoginError struct {
	// Flow is "device" or "browser".
	Flow string
	// Code, Description and ErrorURI are the OAuth2 error that ended the
	// login (access_denied, expired_token, invalid_grant, …), when there
	// was one; the description and URI are cleaned of control characters,
	// of every secret the request carried, and cut short.
	Code, Description, ErrorURI string
	// Err is the cause, when there was one besides the code.
	Err error
}

// Error reads like "oauth: device login: access denied (access_denied:
// the user denied the request)" or "oauth: browser login: no redirect
// within 5m0s: oauth: login timed out".
func (e *LoginError) Error() string {
	var b strings.Builder
	b.WriteString("oauth: ")
	b.WriteString(e.Flow)
	b.WriteString(" login")
	switch e.Code {
	case "":
	case "access_denied":
		b.WriteString(": access denied")
	case "expired_token":
		b.WriteString(": the code expired before the login was approved")
	default:
		b.WriteString(": refused")
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s", e.Code)
		if e.Description != "" {
			fmt.Fprintf(&b, ": %s", e.Description)
		}
		if e.ErrorURI != "" {
			fmt.Fprintf(&b, "; see %s", e.ErrorURI)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *LoginError) Unwrap() error { return e.Err }

// Is reports whether target is ErrAccessDenied for an access_denied login
// or ErrExpiredToken for an expired_token one.
func (e *LoginError) Is(target error) bool {
	return (target == ErrAccessDenied && e.Code == "access_denied") ||
		(target == ErrExpiredToken && e.Code == "expired_token")
}

// loginFailure returns the *LoginError of a failed request of a login
// flow: the OAuth2 error of the answer, if it had one, and the request's
// error.
func loginFailure(flow string, err error) *LoginError {
	le := &LoginError{Flow: flow, Err: err}
	var ee *session.EndpointError
	if errors.As(err, &ee) {
		le.Code, le.Description, le.ErrorURI = ee.Code, ee.Description, ee.ErrorURI
	}
	return le
}

// randomString returns 32 random bytes, base64url-encoded without padding
// (43 characters): a PKCE code verifier (RFC 7636 §4.1) or a state value.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DeviceLogin returns the Login that runs LoginDevice(ctx, c, opts): the
// device authorization grant, its code shown by opts.Prompt.
func DeviceLogin(c *Client, opts DeviceOptions) session.Login {
	return session.LoginFunc(func(ctx context.Context) (session.Token, error) { return LoginDevice(ctx, c, opts) })
}

// BrowserLogin returns the Login that runs LoginBrowser(ctx, c, opts): the
// authorization code grant with PKCE through a loopback redirect.
func BrowserLogin(c *Client, opts BrowserOptions) session.Login {
	return session.LoginFunc(func(ctx context.Context) (session.Token, error) { return LoginBrowser(ctx, c, opts) })
}
