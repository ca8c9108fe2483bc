package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
)

// TestLoginDeviceFlow logs in with the device authorization grant (RFC
// 8628) against zitadel/oidc's OpenID Provider (fosite v0.49.0 has no
// device flow), the test playing the user at the provider's pages: the
// approved login's pair starts a Session that refreshes at the provider,
// the id_token kept in Token.Extra; a slow_down adds 5 s to the interval
// for the rest of the login; a denied login is ErrAccessDenied; and a
// provider restart during polling (connection refused for a while) is
// ridden out.
func TestLoginDeviceFlow(t *testing.T) {
	t.Run("approved after a slow_down", func(t *testing.T) {
		t.Parallel()
		p := startProvider(t)
		p.slowDownAt(2) // the second poll
		u := newUser(t, p)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		client := providerClient(t, p, nil)
		var shown oauth.DeviceCode
		approved := make(chan error, 1)
		start := time.Now()
		tok, err := login.Device(ctx, client, login.DeviceOptions{
			Scopes: []string{"openid", "offline_access"},
			Prompt: func(d oauth.DeviceCode) error {
				shown = d
				go func() {
					// The user approves once the provider has told the
					// client to slow down.
					waitFor(t, "the slow_down", 10*time.Second, func() bool { return len(p.devicePolls()) >= 2 })
					_, err := u.answerDevice(ctx, d.VerificationURIComplete, true)
					approved <- err
				}()
				return nil
			},
		})
		if err != nil {
			t.Fatalf("LoginDevice: %v", err)
		}
		if err := <-approved; err != nil {
			t.Fatalf("the user's approval: %v", err)
		}
		if !strings.Contains(shown.VerificationURIComplete, "user_code="+url.QueryEscape(shown.UserCode)) || shown.Interval != opPollInterval {
			t.Errorf("the prompt showed %+v", shown)
		}
		polls := p.devicePolls()
		answers := make([]string, len(polls))
		for i, pl := range polls {
			answers[i] = pl.Answer
		}
		if strings.Join(answers, ", ") != "400 authorization_pending, slow_down, 200" {
			t.Fatalf("device polls answered %q", answers)
		}
		// The interval (1 s) before the slow_down, 5 s more after it.
		gaps := []time.Duration{polls[0].At.Sub(start), polls[1].At.Sub(polls[0].At), polls[2].At.Sub(polls[1].At)}
		for i, want := range []time.Duration{opPollInterval, opPollInterval, opPollInterval + login.SlowDownStep} {
			if gaps[i] < want || gaps[i] > want+2*time.Second {
				t.Errorf("poll %d came %v after the previous one, want %v (gaps %v)", i+1, gaps[i], want, gaps)
			}
		}
		id, _ := tok.Extra("id_token").(string)
		if tok.Access == "" || tok.Refresh == "" || strings.Count(id, ".") != 2 || !tok.Valid(time.Now()) {
			t.Fatalf("the login's pair: %v, id_token %q", tok, id)
		}

		// The pair starts a session, which refreshes at the provider.
		s, err := session.New(ctx, client, tok)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		first, err := s.Token(ctx)
		if err != nil || first.Access != tok.Access || first.Extra("id_token") != id {
			t.Fatalf("Token = %v (id_token kept: %t), %v", first, first.Extra("id_token") == id, err)
		}
		s.Reject(first.Access)
		next, err := s.Token(ctx)
		if err != nil {
			t.Fatalf("the refresh after the device login: %v", err)
		}
		nextID, _ := next.Extra("id_token").(string)
		if next.Access == first.Access || strings.Count(nextID, ".") != 2 {
			t.Errorf("the refreshed token %v carries id_token %q", next, nextID)
		}
	})

	t.Run("denied", func(t *testing.T) {
		t.Parallel()
		p := startProvider(t)
		u := newUser(t, p)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		denied := make(chan error, 1)
		_, err := login.Device(ctx, providerClient(t, p, nil), login.DeviceOptions{
			Scopes: []string{"openid", "offline_access"},
			Prompt: func(d oauth.DeviceCode) error {
				go func() {
					_, err := u.answerDevice(ctx, d.VerificationURIComplete, false)
					denied <- err
				}()
				return nil
			},
		})
		if err := <-denied; err != nil {
			t.Fatalf("the user's denial: %v", err)
		}
		var le *login.Error
		if !errors.Is(err, login.ErrAccessDenied) || !errors.As(err, &le) || le.Code != "access_denied" {
			t.Fatalf("LoginDevice = %v, want ErrAccessDenied", err)
		}
		if polls := p.devicePolls(); len(polls) == 0 || polls[len(polls)-1].Answer != "400 access_denied" {
			t.Errorf("the last poll was answered %v", polls)
		}
	})

	t.Run("provider restart during polling", func(t *testing.T) {
		t.Parallel()
		p := startProvider(t)
		u := newUser(t, p)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var refused atomic.Int64
		count := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			var op *net.OpError
			if errors.As(err, &op) {
				refused.Add(1)
			}
			return resp, err
		})
		client := providerClient(t, p, count)
		const outage = 3 * time.Second
		var (
			mu       sync.Mutex
			upAgain  time.Time
			approval = make(chan error, 1)
		)
		tok, err := login.Device(ctx, client, login.DeviceOptions{
			Scopes: []string{"openid", "offline_access"},
			Prompt: func(d oauth.DeviceCode) error {
				go func() {
					// The provider goes down after the first poll, for
					// longer than a few intervals, and the user approves
					// once it is back.
					waitFor(t, "the first poll", 10*time.Second, func() bool { return len(p.devicePolls()) >= 1 })
					p.stop()
					<-time.After(outage)
					p.restart()
					mu.Lock()
					upAgain = time.Now()
					mu.Unlock()
					_, err := u.answerDevice(ctx, d.VerificationURIComplete, true)
					approval <- err
				}()
				return nil
			},
		})
		if err := <-approval; err != nil {
			t.Fatalf("the user's approval: %v", err)
		}
		if err != nil {
			t.Fatalf("LoginDevice across the restart: %v", err)
		}
		if tok.Refresh == "" || tok.Extra("id_token") == nil {
			t.Errorf("the pair after the restart: %v", tok)
		}
		if n := refused.Load(); n < 1 || n > int64(outage/opPollInterval)+1 {
			t.Errorf("%d polls met the stopped provider, want 1 to %d (one per interval at most)", n, outage/opPollInterval+1)
		}
		mu.Lock()
		defer mu.Unlock()
		polls := p.devicePolls()
		if last := polls[len(polls)-1]; last.Answer != "200" || last.At.Sub(upAgain) > 20*time.Second {
			t.Errorf("the token came %v after the restart (%v); polls %v", last.At.Sub(upAgain), last.Answer, polls)
		}
	})
}

// providerClient is a oauth.Client of the provider's public device
// client, its endpoints discovered from the issuer.
func providerClient(t *testing.T, p *provider, rt http.RoundTripper) *oauth.Client {
	t.Helper()
	e := oauth.Endpoint{Issuer: p.issuer(), ClientID: deviceClientID}
	if rt != nil {
		e.HTTPClient = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	c, err := oauth.NewClient(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLoginAuthorizationCodePKCE logs in through the browser flow against
// fosite: the test's OpenBrowser plays the browser (a cookie jar) and the
// user, who signs in on the server's page and approves; fosite redirects
// to the loopback listener, the code is exchanged with its PKCE verifier
// (fosite demands S256 of a public client), and the pair starts a Session
// that refreshes at fosite. A user who denies gets ErrAccessDenied.
func TestLoginAuthorizationCodePKCE(t *testing.T) {
	srv, err := tokenserver.New(tokenserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL() + tokenserver.TokenPath, AuthURL: srv.URL() + tokenserver.AuthPath,
		ClientID: tokenserver.CLIClientID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name   string
		action string
	}{{"approved", "approve"}, {"denied", "deny"}} {
		t.Run(tc.name, func(t *testing.T) {
			var pages []string
			var seen *url.URL
			var wg sync.WaitGroup
			wg.Add(1)
			tok, err := login.Browser(ctx, client, login.BrowserOptions{
				Scopes: []string{"offline", "api"},
				OpenBrowser: func(authURL string) error {
					defer wg.Done()
					seen, _ = url.Parse(authURL)
					pages, err = browse(ctx, authURL, url.Values{"username": {"alice"}, "password": {"it-password"}, "action": {tc.action}})
					if err != nil {
						t.Errorf("the browser: %v", err)
					}
					return nil
				},
			})
			wg.Wait()
			if q := seen.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
				!strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
				t.Errorf("the authorization request: %s", seen)
			}
			last := pages[len(pages)-1]
			if tc.action == "deny" {
				if !errors.Is(err, login.ErrAccessDenied) || !strings.Contains(last, "The sign-in was denied") {
					t.Fatalf("LoginBrowser = %v, page %q; want ErrAccessDenied", err, last)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoginBrowser: %v", err)
			}
			if !strings.Contains(last, "You are signed in") || tok.Access == "" || tok.Refresh == "" || !tok.Valid(time.Now()) {
				t.Fatalf("the login's pair %v, page %q", tok, last)
			}
			s, err := session.New(ctx, client, tok)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hc := &http.Client{Transport: &session.Transport{Session: s}}
			if code, err := get(ctx, hc, srv.ResourceURL()); err != nil || code != http.StatusOK {
				t.Fatalf("the resource with the login's token: %d, %v", code, err)
			}
			s.Reject(tok.Access)
			if _, err := s.Token(ctx); err != nil {
				t.Fatalf("the refresh of the login's pair: %v", err)
			}
			if c := srv.Counts(); c.Grants["authorization_code"] != 1 || c.Rotations != 1 {
				t.Errorf("fosite saw %v authorization_code grants and %d rotations, want 1 and 1", c.Grants, c.Rotations)
			}
		})
	}
}

// browse plays a browser with a cookie jar and its user: it opens
// authURL, fills the login page's form with form, and follows the
// redirects, to the loopback listener in the end. It returns the bodies of
// the pages it got.
func browse(ctx context.Context, authURL string, form url.Values) ([]string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	read := func(resp *http.Response, err error) (string, error) {
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return string(b), fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	page, err := read(hc.Do(req))
	if err != nil {
		return []string{page}, err
	}
	m := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return []string{page}, fmt.Errorf("no login form:\n%s", page)
	}
	base, _ := url.Parse(authURL)
	action, err := base.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		return []string{page}, err
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	last, err := read(hc.Do(req))
	return []string{page, last}, err
}

// TestAuthStyleAutoDetectFosite: fosite refuses the secret of a
// client_secret_post client in a Basic header (401 invalid_client). A
// session with the default AuthStyle tries the body once and keeps it;
// one with AuthBasic stops, misconfigured.
func TestAuthStyleAutoDetectFosite(t *testing.T) {
	srv, err := tokenserver.New(tokenserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name  string
		style oauth.AuthStyle
		want  []string // the answers fosite gave, in order
	}{
		{"auto", oauth.AuthAutoDetect, []string{"401 invalid_client", "200", "200"}},
		{"basic", oauth.AuthBasic, []string{"401 invalid_client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Requests())
			client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL() + tokenserver.TokenPath, ClientID: tokenserver.PostClientID,
				ClientSecret: tokenserver.PostClientSecret, Grant: oauth.GrantClientCredentials, AuthStyle: tc.style, Scopes: []string{"api"}})
			if err != nil {
				t.Fatal(err)
			}
			s, err := session.New(ctx, client, session.Token{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tok, err := s.Token(ctx)
			if tc.style == oauth.AuthBasic {
				if !errors.Is(err, session.ErrMisconfigured) {
					t.Fatalf("Token = %v, want ErrMisconfigured", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				s.Reject(tok.Access) // one more token request: in the body at once
				if _, err := s.Token(ctx); err != nil {
					t.Fatalf("Token after a rejection: %v", err)
				}
			}
			var got []string
			for _, r := range srv.Requests()[before:] {
				a := fmt.Sprint(r.Status)
				if r.Code != "" {
					a += " " + r.Code
				}
				got = append(got, a)
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("fosite answered %q, want %q", got, tc.want)
			}
		})
	}
}
