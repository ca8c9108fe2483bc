package login

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/authfsm/authfsm/session/oauth"
)

const testAuthURL = "https://auth.example/authorize?tenant=t1"

// codeServer is the token endpoint of an authorization code login: it
// remembers the authorization request the "browser" saw and checks the
// exchange against it (the code, the PKCE verifier, the redirect URI).
type codeServer struct {
	mu        sync.Mutex
	challenge string
	redirect  string
	refuse    bool // answer invalid_grant
	exchanges []url.Values
}

func (s *codeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(b))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exchanges = append(s.exchanges, form)
	sum := sha256.Sum256([]byte(form.Get("code_verifier")))
	switch {
	case s.refuse:
		return fakeidp.Respond(req, 400, "application/json", `{"error":"invalid_grant","error_description":"code THE-CODE was used"}`, ""), nil
	case form.Get("grant_type") != "authorization_code" || form.Get("code") != "THE-CODE" || form.Get("client_id") != "cli":
		return fakeidp.Respond(req, 400, "application/json", `{"error":"invalid_request"}`, ""), nil
	case base64.RawURLEncoding.EncodeToString(sum[:]) != s.challenge || form.Get("redirect_uri") != s.redirect:
		return fakeidp.Respond(req, 400, "application/json", `{"error":"invalid_grant","error_description":"PKCE or redirect_uri mismatch"}`, ""), nil
	}
	return fakeidp.Respond(req, 200, "application/json", `{"access_token":"at-b","refresh_token":"rt-b","expires_in":3600,"id_token":"id-b"}`, ""), nil
}

// browser is what an OpenBrowser plays: it checks the authorization URL,
// tells the code server the challenge, then comes back to the redirect URI
// with query(state), and records the page it got.
type browser struct {
	t     *testing.T
	srv   *codeServer
	query func(state string) url.Values
	mu    sync.Mutex
	pages []string
	seen  *url.URL
	done  sync.WaitGroup
}

func (b *browser) open(raw string) error {
	b.done.Add(1)
	defer b.done.Done()
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	q := u.Query()
	b.mu.Lock()
	b.seen = u
	b.mu.Unlock()
	b.srv.mu.Lock()
	b.srv.challenge, b.srv.redirect = q.Get("code_challenge"), q.Get("redirect_uri")
	b.srv.mu.Unlock()
	for _, back := range []url.Values{b.query(q.Get("state"))} {
		resp, err := http.Get(q.Get("redirect_uri") + "?" + back.Encode())
		if err != nil {
			b.t.Errorf("the redirect: %v", err)
			return nil
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.mu.Lock()
		b.pages = append(b.pages, fmt.Sprintf("%d %s", resp.StatusCode, page))
		b.mu.Unlock()
	}
	return nil
}

// got returns what the browser saw, once it is done.
func (b *browser) got() ([]string, *url.URL) {
	b.done.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pages, b.seen
}

func browserClient(t *testing.T, srv *codeServer, e oauth.Endpoint) *oauth.Client {
	t.Helper()
	e.TokenURL, e.AuthURL, e.ClientID = testURL, testAuthURL, "cli"
	e.HTTPClient = &http.Client{Transport: srv}
	return mustClient(t, e)
}

// TestBrowser: the authorization code grant with PKCE through a
// loopback redirect, end to end on 127.0.0.1 with a scripted browser.
func TestBrowser(t *testing.T) {
	srv := &codeServer{}
	var onToken []session.Token
	c := browserClient(t, srv, oauth.Endpoint{Scopes: []string{"api"}, OnToken: func(tok session.Token) { onToken = append(onToken, tok) }})
	b := &browser{t: t, srv: srv, query: func(state string) url.Values {
		return url.Values{"code": {"THE-CODE"}, "state": {state}}
	}}
	tok, err := Browser(context.Background(), c, BrowserOptions{OpenBrowser: b.open, Scopes: []string{"openid", "offline_access"},
		Params: url.Values{"prompt": {"consent"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access != "at-b" || tok.Refresh != "rt-b" || tok.Extra("id_token") != "id-b" || len(onToken) != 1 {
		t.Errorf("token %v (OnToken saw %d)", tok, len(onToken))
	}
	pages, seen := b.got()
	if len(pages) != 1 || !strings.HasPrefix(pages[0], "200 ") || !strings.Contains(pages[0], "You are signed in") {
		t.Errorf("the browser got %q", pages)
	}
	q := seen.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" || redirect.Port() == "0" || redirect.Path != "/callback" {
		t.Errorf("redirect_uri %q, want http://127.0.0.1:PORT/callback", q.Get("redirect_uri"))
	}
	for k, want := range map[string]string{"response_type": "code", "client_id": "cli", "code_challenge_method": "S256",
		"scope": "openid offline_access", "prompt": "consent", "tenant": "t1"} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("code_challenge")) != 43 || seen.Host != "auth.example" || seen.Path != "/authorize" {
		t.Errorf("authorization URL %s", seen)
	}
	if v := srv.exchanges[0].Get("code_verifier"); len(v) != 43 || strings.Contains(seen.String(), v) {
		t.Errorf("code_verifier %q: 43 characters, never in the authorization URL", v)
	}
	if _, err := net.DialTimeout("tcp", redirect.Host, time.Second); err == nil {
		t.Error("the loopback listener is still open after the login")
	}
}

// TestBrowserEnds: the other ways a browser login ends.
func TestBrowserEnds(t *testing.T) {
	tests := []struct {
		name    string
		issuer  string
		refuse  bool
		query   func(state string) url.Values
		timeout time.Duration
		is      error
		text    string // in the error
		page    string // in the page the browser got
	}{
		{"access denied", "", false, func(state string) url.Values {
			return url.Values{"error": {"access_denied"}, "error_description": {"The user said no\u202e"}, "state": {state}}
		}, 0, ErrAccessDenied, "access denied (access_denied: The user said no)", "The sign-in was denied"},
		{"the code refused at the exchange", "", true, func(state string) url.Values {
			return url.Values{"code": {"THE-CODE"}, "state": {state}}
		}, 0, nil, "refused (invalid_grant: code [redacted] was used)", "The sign-in did not complete"},
		{"another issuer's redirect (RFC 9207)", "https://auth.example", false, func(state string) url.Values {
			return url.Values{"code": {"THE-CODE"}, "state": {state}, "iss": {"https://evil.example"}}
		}, 0, nil, `the redirect names issuer "https://evil.example"`, "The sign-in did not complete"},
		{"no redirect in time", "", false, nil, 200 * time.Millisecond, ErrTimeout, "no redirect within 200ms", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &codeServer{refuse: tc.refuse}
			c := browserClient(t, srv, oauth.Endpoint{Issuer: tc.issuer})
			b := &browser{t: t, srv: srv, query: tc.query}
			open := b.open
			if tc.query == nil {
				open = func(string) error { return nil } // the user never comes back
			}
			_, err := Browser(context.Background(), c, BrowserOptions{OpenBrowser: open, Timeout: tc.timeout})
			var le *Error
			if !errors.As(err, &le) || le.Flow != "browser" || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("LoginBrowser = %v, want a *Error with %q", err, tc.text)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("LoginBrowser = %v, want it to match %v", err, tc.is)
			}
			if pages, _ := b.got(); tc.page != "" && (len(pages) != 1 || !strings.Contains(pages[0], tc.page)) {
				t.Errorf("the browser got %q, want %q", pages, tc.page)
			}
		})
	}
}

// TestBrowserState: a request to the redirect URI with another state
// is answered 400 and changes nothing; the right one still completes the
// login, and a second one is told the login is over.
func TestBrowserState(t *testing.T) {
	srv := &codeServer{}
	c := browserClient(t, srv, oauth.Endpoint{})
	var pages []string
	get := func(u string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("GET: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pages = append(pages, fmt.Sprintf("%d %s", resp.StatusCode, b))
	}
	var redirect string
	done := make(chan struct{})
	open := func(raw string) error {
		defer close(done)
		u, _ := url.Parse(raw)
		q := u.Query()
		srv.mu.Lock()
		srv.challenge, srv.redirect = q.Get("code_challenge"), q.Get("redirect_uri")
		srv.mu.Unlock()
		redirect = q.Get("redirect_uri")
		get(redirect + "?code=EVIL&state=forged")
		get(redirect + "?error=access_denied&state=")
		get(strings.TrimSuffix(redirect, "/callback") + "/other?code=THE-CODE&state=" + q.Get("state"))
		get(redirect + "?code=THE-CODE&state=" + url.QueryEscape(q.Get("state")))
		return nil
	}
	tok, err := Browser(context.Background(), c, BrowserOptions{OpenBrowser: open})
	<-done
	if err != nil || tok.Access != "at-b" {
		t.Fatalf("LoginBrowser = %v, %v", tok, err)
	}
	want := []string{"400 ", "400 ", "404 ", "200 "}
	for i, p := range pages {
		if i >= len(want) || !strings.HasPrefix(p, want[i]) {
			t.Errorf("page %d: %.60q, want status %s", i, p, want)
		}
	}
	if !strings.Contains(pages[0], "state does not match") || len(srv.exchanges) != 1 {
		t.Errorf("the forged redirect: %q, %d exchanges", pages[0], len(srv.exchanges))
	}
}

// TestBrowserFallsBackToOutput: when no browser opens, the URL is
// written out for the user, who opens it by hand.
func TestBrowserFallsBackToOutput(t *testing.T) {
	srv := &codeServer{}
	c := browserClient(t, srv, oauth.Endpoint{})
	var out syncWriter
	out.written = make(chan string, 1)
	b := &browser{t: t, srv: srv, query: func(state string) url.Values { return url.Values{"code": {"THE-CODE"}, "state": {state}} }}
	go func() {
		text := <-out.written
		i := strings.Index(text, "https://")
		b.open(strings.TrimSpace(text[i:]))
	}()
	tok, err := Browser(context.Background(), c, BrowserOptions{Output: &out,
		OpenBrowser: func(string) error { return errors.New("no display") }})
	if err != nil || tok.Access != "at-b" {
		t.Fatalf("LoginBrowser = %v, %v", tok, err)
	}
	if !strings.Contains(out.String(), "Could not open a browser (no display).\nTo sign in, open https://auth.example/authorize?") {
		t.Errorf("output %q", out.String())
	}
}

// TestBrowserBadOptions: options that cannot work are refused before
// anything listens.
func TestBrowserBadOptions(t *testing.T) {
	c := browserClient(t, &codeServer{}, oauth.Endpoint{})
	never := func(string) error { t.Error("the browser was opened"); return nil }
	for _, tc := range []struct {
		opts BrowserOptions
		text string
	}{
		{BrowserOptions{Params: url.Values{"state": {"x"}}}, `may not set "state"`},
		{BrowserOptions{ListenAddr: "0.0.0.0:0"}, "not a loopback address"},
		{BrowserOptions{RedirectPath: "cb"}, "does not start with /"},
	} {
		tc.opts.OpenBrowser = never
		if _, err := Browser(context.Background(), c, tc.opts); err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.text)
		}
	}
	if _, err := Browser(context.Background(), mustClient(t, oauth.Endpoint{TokenURL: testURL, ClientID: "cli"}), BrowserOptions{OpenBrowser: never}); err == nil ||
		!strings.Contains(err.Error(), "no authorization endpoint") {
		t.Errorf("without an authorization endpoint: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Browser(ctx, c, BrowserOptions{OpenBrowser: func(string) error { cancel(); return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled login: %v", err)
	}
	if err := OpenURL("file:///etc/passwd"); err == nil {
		t.Error("OpenURL opened a file URL")
	}
}

// syncWriter is a Writer shared with LoginBrowser's opener goroutine; its
// first write is also sent on written.
type syncWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan string
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.written <- string(p):
	default:
	}
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
