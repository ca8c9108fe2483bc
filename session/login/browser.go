package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// BrowserOptions configures Browser. The zero value is ready.
type BrowserOptions struct {
	// Scopes are requested, space-separated as "scope"; nil means
	// oauth.Endpoint.Scopes. A refresh token usually takes "offline_access"
	// (OpenID Connect) or the server's equivalent.
	Scopes []string
	// Params are extra parameters of the authorization request (prompt,
	// login_hint, audience, resource, …). They cannot set the flow's own:
	// response_type, client_id, redirect_uri, scope, state, code_challenge
	// and code_challenge_method.
	Params url.Values
	// OpenBrowser opens the authorization URL in the user's browser. nil
	// means OpenURL (xdg-open, open or rundll32, by GOOS). It runs on a
	// goroutine of its own while Browser waits for the redirect; when
	// it fails, the URL is written to Output for the user to open.
	OpenBrowser func(url string) error
	// Output receives the authorization URL when OpenBrowser fails; nil
	// means os.Stderr.
	Output io.Writer
	// Timeout bounds the wait for the browser to come back; 0 means
	// DefaultBrowserTimeout (5 minutes).
	Timeout time.Duration
	// ListenAddr is the loopback address the redirect is received on; ""
	// means "127.0.0.1:0", an ephemeral port on the IPv4 loopback (RFC
	// 8252 §7.3; servers ignore the port of a loopback redirect URI).
	// Set a fixed port ("127.0.0.1:8085") for a server that matches it.
	ListenAddr string
	// RedirectPath is the path of the redirect URI; "" means "/callback".
	RedirectPath string
	// RequestTimeout bounds the code exchange; 0 means
	// states.DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// reservedAuthorize are the authorization request parameters Browser
// sets itself.
var reservedAuthorize = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// Browser logs in with the authorization code grant and PKCE through a
// loopback redirect (RFC 6749 §4.1, RFC 7636 with S256, RFC 8252), as a
// command-line tool on a desktop does: it listens on opts.ListenAddr
// (127.0.0.1 on an ephemeral port), opens the authorization endpoint
// (oauth.Endpoint.AuthURL, or the issuer's authorization_endpoint;
// oauth.Client.AuthCodeURL) in the
// browser with opts.OpenBrowser, waits at most opts.Timeout for the
// browser to come back to http://127.0.0.1:PORT/callback, checks its state
// (in constant time; a request with another state is answered 400 and
// ignored, so a page cannot end or hijack the login), exchanges the code
// with its verifier at the token endpoint (oauth.Client.Exchange), answers
// the browser a short
// page, and closes the listener. An error in the redirect ends the login:
// access_denied with an *Error matching ErrAccessDenied; so does an "iss"
// parameter (RFC 9207) that names another issuer than
// oauth.Endpoint.Issuer. The client authenticates as for a refresh (a
// public client sends its client_id), and oauth.Endpoint.OnToken is called
// with the token. The client's clock (oauth.Endpoint.Clock) measures the
// timeout.
//
// The returned Token is what session.New starts a Session from or
// Session.SetToken installs. Every failure is an *Error; the timeout's
// matches ErrTimeout.
func Browser(ctx context.Context, c *oauth.Client, opts BrowserOptions) (session.Token, error) {
	fail := func(err error) (session.Token, error) { return session.Token{}, failure("browser", err) }
	// The authorization endpoint, found (or discovered) before anything
	// listens.
	if _, err := c.AuthCodeURL(ctx, nil); err != nil {
		return fail(err)
	}
	for _, k := range reservedAuthorize {
		if _, ok := opts.Params[k]; ok {
			return fail(fmt.Errorf("BrowserOptions.Params may not set %q", k))
		}
	}
	addr, path := opts.ListenAddr, opts.RedirectPath
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if path == "" {
		path = "/callback"
	}
	if !strings.HasPrefix(path, "/") {
		return fail(fmt.Errorf("BrowserOptions.RedirectPath %q does not start with /", path))
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !redact.IsLoopback(host) {
		return fail(fmt.Errorf("BrowserOptions.ListenAddr %q is not a loopback address (RFC 8252 §8.3)", addr))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(fmt.Errorf("listening for the redirect: %w", err))
	}
	redirect := (&url.URL{Scheme: "http", Host: ln.Addr().String(), Path: path}).String()
	state, verifier := randomString(), randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{}
	for k, v := range opts.Params {
		q[k] = v
	}
	q.Set("redirect_uri", redirect)
	q.Set("state", state)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	if opts.Scopes != nil {
		q.Set("scope", strings.Join(opts.Scopes, " "))
	}
	authURL, err := c.AuthCodeURL(ctx, q)
	if err != nil {
		ln.Close()
		return fail(err)
	}

	cb := &callback{path: path, state: state, got: make(chan redirected, 1), done: make(chan struct{})}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		close(cb.done)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // lets the page reach the browser
	}()

	open, out := opts.OpenBrowser, opts.Output
	if open == nil {
		open = OpenURL
	}
	if out == nil {
		out = os.Stderr
	}
	go func() {
		if err := open(authURL); err != nil {
			fmt.Fprintf(out, "Could not open a browser (%v).\nTo sign in, open %s\n", err, authURL)
		}
	}()

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultBrowserTimeout
	}
	timer := c.Endpoint().Clock.Timer(timeout)
	defer timer.Stop()
	var r redirected
	select {
	case r = <-cb.got:
	case <-timer.C:
		return fail(fmt.Errorf("no redirect within %v: %w", timeout, ErrTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	tok, err := exchangeCode(ctx, c, r, redirect, verifier, opts.RequestTimeout)
	r.page <- err
	if err != nil {
		return session.Token{}, err
	}
	return tok, nil
}

// exchangeCode turns the redirect into a token: its error, or its code
// exchanged at the token endpoint.
func exchangeCode(ctx context.Context, c *oauth.Client, r redirected, redirect, verifier string, timeout time.Duration) (session.Token, error) {
	if r.err != "" {
		return session.Token{}, &Error{Flow: "browser", Code: r.err, Description: r.description, ErrorURI: r.uri}
	}
	if issuer := c.Endpoint().Issuer; issuer != "" && r.iss != "" && r.iss != issuer {
		// RFC 9207: the redirect comes from another authorization server
		// than the one the code is to be sent to (a mix-up attack).
		return session.Token{}, &Error{Flow: "browser", Err: fmt.Errorf("the redirect names issuer %q, not %q", r.iss, issuer)}
	}
	if r.code == "" {
		return session.Token{}, &Error{Flow: "browser", Err: errors.New("the redirect carries neither a code nor an error")}
	}
	if timeout <= 0 {
		timeout = states.DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := c.Exchange(rctx, r.code, redirect, verifier)
	if err != nil {
		return session.Token{}, failure("browser", err)
	}
	return tok, nil
}

// redirected is the browser's return to the redirect URI: the code, or the
// error, and where the handler waits for the page's outcome.
type redirected struct {
	code, iss             string
	err, description, uri string
	page                  chan error
}

// callback receives the redirect. The first request with the right state
// is handed to Browser, which answers it once the code is exchanged;
// any other request is answered at once.
type callback struct {
	path, state string
	got         chan redirected
	done        chan struct{} // closed when Browser returns
	once        sync.Once
}

func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.URL.Path != cb.path {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.state)) != 1 {
		writePage(w, http.StatusBadRequest, "Sign-in failed", "This page does not belong to the sign-in in progress (its state does not match). Start the sign-in again from the application.")
		return
	}
	red := redirected{code: q.Get("code"), iss: q.Get("iss"), err: redact.Text(redact.Scrubber{}, q.Get("error"), redact.MaxCode),
		description: redact.Text(redact.Scrubber{}, q.Get("error_description"), redact.MaxDescription),
		uri:         redact.Text(redact.Scrubber{}, q.Get("error_uri"), redact.MaxDescription), page: make(chan error, 1)}
	first := false
	cb.once.Do(func() { first = true })
	if !first {
		writePage(w, http.StatusConflict, "Already signed in", "This sign-in has already been completed. You can close this tab.")
		return
	}
	cb.got <- red
	var err error
	select {
	case err = <-red.page:
	case <-cb.done:
		select {
		case err = <-red.page: // the outcome came just before the end
		default:
			err = errors.New("the login ended")
		}
	case <-r.Context().Done():
		return
	}
	if err != nil {
		msg := "The sign-in did not complete. Return to the application for details."
		var le *Error
		if errors.As(err, &le) && le.Code == "access_denied" {
			msg = "The sign-in was denied. You can close this tab."
		}
		writePage(w, http.StatusOK, "Sign-in failed", msg)
		return
	}
	writePage(w, http.StatusOK, "Signed in", "You are signed in. You can close this tab and return to the application.")
}

// writePage answers the browser with a small page of fixed text.
func writePage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"+
		"<body style=\"font-family:sans-serif;margin:3em\"><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
