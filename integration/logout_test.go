package integration

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// TestLogoutRevokes logs a session out against fosite (RFC 7009, its
// revocation endpoint found by discovery). Two processes of one client
// share a FileStore; one logs out. fosite answers both revocation requests
// (the refresh token, then the access token) 200; afterwards the refresh
// token is inactive — a refresh with it is answered invalid_grant — and
// the access token is refused by the resource server; the FileStore holds
// no pair; the other process stops serving the pair within the watch's
// poll; and a restarted process does not resume the session: it has no
// token and sends no request.
func TestLogoutRevokes(t *testing.T) {
	srv, err := tokenserver.New(tokenserver.Config{AccessTokenLifespan: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.SetIssuer(srv.URL(), tokenserver.DiscoveryRFC8414); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	login, err := srv.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.json")
	pair := session.Token{Access: session.Secret(login.AccessToken), Refresh: session.Secret(login.RefreshToken), Type: "Bearer",
		Expiry: time.Now().Add(time.Duration(login.ExpiresIn) * time.Second)}
	if err := (&session.FileStore{Path: path}).Save(ctx, pair); err != nil {
		t.Fatal(err)
	}
	newClient := func() *oauth.Client {
		c, err := oauth.NewClient(oauth.Endpoint{Issuer: srv.URL(), ClientID: srv.ClientID(), ClientSecret: session.Secret(srv.ClientSecret())})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, err := session.New(ctx, newClient(), session.Token{}, session.WithStore(&session.FileStore{Path: path}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := session.New(ctx, newClient(), session.Token{}, session.WithStore(&session.FileStore{Path: path}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	hc := &http.Client{Transport: &session.Transport{Session: b}}
	if code, err := get(ctx, hc, srv.ResourceURL()); err != nil || code != http.StatusOK {
		t.Fatalf("b before the logout: %d, %v", code, err)
	}

	if err := a.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	revs := srv.Revocations()
	if len(revs) != 2 || revs[0].Hint != session.HintRefreshToken || revs[0].Status != 200 ||
		revs[1].Hint != session.HintAccessToken || revs[1].Status != 200 {
		t.Fatalf("fosite's revocation requests: %+v", revs)
	}
	if c := srv.Counts(); c.FamilyRevocations != 0 || c.Reuse != 0 {
		t.Errorf("fosite saw reuse (%d) or revoked a family for it (%d): a logout is no reuse", c.Reuse, c.FamilyRevocations)
	}
	_, err = tokenserver.RequestToken(ctx, &http.Client{Timeout: 5 * time.Second}, srv.URL()+tokenserver.TokenPath, srv.ClientID(), srv.ClientSecret(),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}})
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("a refresh with the logged-out refresh token: %v, want invalid_grant", err)
	}
	if code, err := get(ctx, bearer(login.AccessToken), srv.ResourceURL()); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("the logged-out access token at the resource server: %d, %v", code, err)
	}
	if _, err := (&session.FileStore{Path: path}).Load(ctx); !errors.Is(err, session.ErrNoToken) {
		t.Fatalf("the FileStore after the logout: %v, want ErrNoToken", err)
	}
	waitFor(t, "the other process to stop serving the pair", 5*time.Second, func() bool { return b.Status().State == states.Revoked })
	if _, err := b.Token(ctx); !errors.Is(err, session.ErrRevoked) || !strings.Contains(err.Error(), states.LoggedOutCause) {
		t.Fatalf("b after a's logout: %v", err)
	}

	before := srv.Counts().TokenRequests
	c, err := session.New(ctx, newClient(), session.Token{}, session.WithStore(&session.FileStore{Path: path}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Token(ctx); !errors.Is(err, session.ErrNoRefreshToken) {
		t.Fatalf("a restarted process: %v, want no token (nothing resumed)", err)
	}
	if n := srv.Counts().TokenRequests - before; n != 0 {
		t.Errorf("the restarted process sent %d token requests, want none", n)
	}
}

// bearer is a client that sends token as a Bearer token.
func bearer(token string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultTransport.RoundTrip(r)
	})}
}
