// Package login obtains a session's first token pair, as a command-line
// tool or an agent logs in: Device (RFC 8628's device authorization grant)
// and Browser (the authorization code grant with PKCE through a loopback
// redirect, RFC 8252) drive the grants of an oauth.Client and return a
// session.Token that session.New starts from or Session.SetToken installs.
// DeviceFlow and BrowserFlow are the same logins as a session.Login, which
// a session runs itself when it needs one (session.WithLogin); Elsewhere is
// a login that another process makes.
package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// DefaultBrowserTimeout is how long Browser waits for the browser to come
// back unless BrowserOptions.Timeout says otherwise.
const DefaultBrowserTimeout = 5 * time.Minute

// ErrAccessDenied is matched (with errors.Is) by the *Error of a login
// that the user or the authorization server refused: access_denied, from
// the device flow's polling or in the browser flow's redirect.
var ErrAccessDenied = errors.New("login: denied")

// ErrExpiredToken is matched (with errors.Is) by the *Error of a
// device login whose code expired before the user approved it: the
// server's expired_token, or the code's expires_in passed while polling.
var ErrExpiredToken = errors.New("login: code expired")

// ErrTimeout is matched (with errors.Is) by the *Error of a browser login
// whose redirect did not come within BrowserOptions.Timeout.
var ErrTimeout = errors.New("login: timed out")

// Error is a login flow that ended without a token. It matches
// ErrAccessDenied or ErrExpiredToken by its Code, ErrTimeout by its
// Err, and whatever Err matches (an *session.EndpointError for a request the
// authorization server refused or never answered, a context's error).
type Error struct {
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

// Error reads like "login: device: access denied (access_denied: the user
// denied the request)" or "login: browser: no redirect within 5m0s: login:
// timed out".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("login: ")
	b.WriteString(e.Flow)
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
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrAccessDenied for an access_denied login
// or ErrExpiredToken for an expired_token one.
func (e *Error) Is(target error) bool {
	return (target == ErrAccessDenied && e.Code == "access_denied") ||
		(target == ErrExpiredToken && e.Code == "expired_token")
}

// failure returns the *Error of a failed request of a login
// flow: the OAuth2 error of the answer, if it had one, and the request's
// error.
func failure(flow string, err error) *Error {
	le := &Error{Flow: flow, Err: err}
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

// DeviceFlow returns the session.Login that runs Device(ctx, c, opts):
// the device authorization grant, its code shown by opts.Prompt.
func DeviceFlow(c *oauth.Client, opts DeviceOptions) session.Login {
	return session.LoginFunc(func(ctx context.Context) (session.Token, error) { return Device(ctx, c, opts) })
}

// BrowserFlow returns the session.Login that runs Browser(ctx, c, opts):
// the authorization code grant with PKCE through a loopback redirect.
func BrowserFlow(c *oauth.Client, opts BrowserOptions) session.Login {
	return session.LoginFunc(func(ctx context.Context) (session.Token, error) { return Browser(ctx, c, opts) })
}

// Elsewhere returns the login that is made outside the session: another
// process of its family logs in and publishes the pair (`authfsm login
// --profile NAME`, session.PublishPair), or the application calls
// Session.SetToken. hint says how, in the errors of the wait ("run authfsm
// login --profile api"). Given to session.WithLogin, it makes a session
// that has nothing it may refresh with need a login (states.NeedsLogin)
// instead of being revoked: the session serves nothing, sends nothing, and
// Token fails with a *session.LoginRequiredError (errors.Is
// session.ErrLoginRequired) that carries hint, or waits for the pair when
// the caller may wait (session.WithFailFast false,
// session.ContextWithWait). The session never runs it; its Login fails
// with that error.
func Elsewhere(hint string) session.Login { return elsewhere(hint) }

// elsewhere is Elsewhere's login. Its Elsewhere method is what
// session.WithLogin looks for.
type elsewhere string

// Elsewhere returns the hint.
func (e elsewhere) Elsewhere() string { return string(e) }

// Login fails: the login is made elsewhere.
func (e elsewhere) Login(context.Context) (session.Token, error) {
	return session.Token{}, &session.LoginRequiredError{Cause: "the login is made outside this process", Hint: string(e)}
}
