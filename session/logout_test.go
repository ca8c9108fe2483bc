package session

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

const testRevokeURL = "https://auth.example/oauth/revoke"

// revocations is a fake revocation endpoint (RFC 7009) beside a fake token
// endpoint: it records each request and answers as answer says (200 when
// nil).
type revocations struct {
	fe     *fakeEndpoint
	mu     sync.Mutex
	forms  []url.Values
	auths  []string
	answer func(form url.Values, n int) (status int, body string)
}

func (r *revocations) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != testRevokeURL {
		return r.fe.RoundTrip(req)
	}
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.forms = append(r.forms, form)
	r.auths = append(r.auths, req.Header.Get("Authorization"))
	n := len(r.forms)
	r.mu.Unlock()
	status, text := 200, ""
	if r.answer != nil {
		status, text = r.answer(form, n)
	}
	return respond(req, status, "application/json", text, ""), nil
}

// requests lists the revocation requests as "hint token".
func (r *revocations) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.forms {
		out = append(out, f.Get("token_type_hint")+" "+f.Get("token"))
	}
	return out
}

func revocationClient(t *testing.T, r *revocations) *fakeClient {
	t.Helper()
	return testClient(t, r, testEndpoint{RevocationURL: testRevokeURL})
}

// TestLogoutRevokesAndRemoves: Logout revokes the refresh token, then the
// access token, at the revocation endpoint, authenticated as the client;
// the FileStore no longer holds the pair, so a restarted process does not
// resume it; the other process of the family stops serving it within the
// watch's poll, revoked (logged out); and a login elsewhere revives that
// one, not the one that logged out.
func TestLogoutRevokesAndRemoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		r := &revocations{fe: newFakeEndpoint(time.Hour)}
		path := filepath.Join(t.TempDir(), "tokens.json")
		store := &FileStore{Path: path}
		pair := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
		if err := store.Save(ctx, pair); err != nil {
			t.Fatal(err)
		}
		mem := &audit.Memory{}
		a, err := New(ctx, revocationClient(t, r), Token{}, WithStore(&FileStore{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := New(ctx, revocationClient(t, r), Token{}, WithStore(&FileStore{Path: path}), WithAudit(mem))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if tok, err := b.Token(ctx); err != nil || tok.Access != "tok-access-0" {
			t.Fatalf("b before the logout: %v, %v", tok, err)
		}
		if err := a.Logout(ctx); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if got := strings.Join(r.requests(), ", "); got != "refresh_token tok-refresh-0, access_token tok-access-0" {
			t.Errorf("revocation requests: %s", got)
		}
		for i, auth := range r.auths {
			if auth != "Basic "+basicCredential("app", "app-secret") {
				t.Errorf("revocation request %d authenticated with %q", i, auth)
			}
		}
		if _, err := store.Load(ctx); !errors.Is(err, ErrNoToken) {
			t.Fatalf("the store after the logout: %v, want ErrNoToken", err)
		}
		if _, err := a.Token(ctx); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "logged out by the application") {
			t.Fatalf("a after its logout: %v", err)
		}
		time.Sleep(time.Second)
		if _, err := b.Token(ctx); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), states.LoggedOutCause) {
			t.Fatalf("b a second after a's logout: %v, want revoked, logged out", err)
		}
		c, err := New(ctx, revocationClient(t, r), Token{}, WithStore(&FileStore{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Token(ctx); !errors.Is(err, ErrNoRefreshToken) {
			t.Fatalf("a restarted process after the logout: %v, want no token", err)
		}
		if n, _, _ := r.fe.Stats(); n != 0 {
			t.Errorf("%d token requests, want none", n)
		}
		relogin := Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(time.Hour)}
		if err := store.Save(ctx, relogin); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if tok, err := b.Token(ctx); err != nil || tok.Access != "relogin-access" {
			t.Fatalf("b after a login elsewhere: %v, %v", tok, err)
		}
		if _, err := a.Token(ctx); !errors.Is(err, ErrRevoked) {
			t.Fatalf("a, which logged out itself, after a login elsewhere: %v", err)
		}
		log := strings.Join(events(mem.Records()), "\n")
		if !strings.Contains(log, "revoke: "+states.LoggedOutCause) || !strings.Contains(log, "adopt: ") {
			t.Errorf("b's transitions:\n%s", log)
		}
	})
}

// TestLogoutReportsWhatWasNotRevoked: a revocation endpoint that stays
// unavailable, and one that cannot revoke access tokens: Logout retries the
// first at most three times, the second once, removes the pair all the
// same, and returns a *LogoutError that names both by fingerprint and
// carries no secret.
func TestLogoutReportsWhatWasNotRevoked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		r := &revocations{fe: newFakeEndpoint(time.Hour), answer: func(form url.Values, n int) (int, string) {
			if form.Get("token_type_hint") == HintRefreshToken {
				return 503, `{"error":"temporarily_unavailable","error_description":"cannot revoke it now"}`
			}
			return 400, `{"error":"unsupported_token_type"}`
		}}
		store := &MemoryStore{}
		pair := Token{Access: "secret-access", Refresh: "secret-refresh", Expiry: time.Now().Add(time.Hour)}
		s, err := New(ctx, revocationClient(t, r), pair, WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		store.Save(ctx, pair)
		err = s.Logout(ctx)
		var le *LogoutError
		if !errors.As(err, &le) || !errors.Is(err, ErrNotRevoked) || le.Store != nil || len(le.NotRevoked) != 2 {
			t.Fatalf("Logout = %#v", err)
		}
		refresh, access := le.NotRevoked[0], le.NotRevoked[1]
		if refresh.Hint != HintRefreshToken || refresh.Attempts != 3 || refresh.Token != audit.Fingerprint("secret-refresh") ||
			access.Hint != HintAccessToken || access.Attempts != 1 || access.Token != audit.Fingerprint("secret-access") {
			t.Errorf("not revoked: %+v", le.NotRevoked)
		}
		var ee *EndpointError
		if !errors.As(err, &ee) || ee.Status != 503 || ee.Code != "temporarily_unavailable" {
			t.Errorf("the refresh token's failure: %v", ee)
		}
		for _, secret := range []string{"secret-refresh", "secret-access", "app-secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error carries %s: %v", secret, err)
			}
		}
		if _, err := store.Load(ctx); !errors.Is(err, ErrNoToken) {
			t.Errorf("the store after the logout: %v", err)
		}
	})
}

// TestLogoutWithoutRevocationEndpoint: a Revoker that knows no revocation
// endpoint cannot revoke; Logout says so (ErrNoRevocationEndpoint) and
// still removes the pair from the family, whose other process stops
// serving it.
func TestLogoutWithoutRevocationEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		coord := &MemoryCoordinator{}
		pair := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
		if _, err := PublishPair(ctx, coord, pair); err != nil {
			t.Fatal(err)
		}
		a, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(coord))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(coord), WithLogin(elsewhere("log in again")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		err = a.Logout(ctx)
		if !errors.Is(err, ErrNoRevocationEndpoint) || !errors.Is(err, ErrNotRevoked) {
			t.Fatalf("Logout = %v", err)
		}
		synctest.Wait()
		if fam, _ := coord.Read(ctx); fam.Pair.Access != "" || fam.Generation != 2 {
			t.Fatalf("the family after the logout: %+v", fam)
		}
		if _, err := b.Token(ctx); !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), states.LoggedOutCause) {
			t.Fatalf("b after the logout: %v, want a login required", err)
		}
	})
}
