package session

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// TestNoTokenYetWaitsForTheFamilysFirstPair: a process starts with no token
// on a family that has none yet. Having nothing to refresh with is no
// revocation: its Token says "no token yet" (a *RefreshError that unwraps
// to ErrNoRefreshToken), a caller that may wait waits, and when another
// process seeds the family (SetToken), it adopts that pair; no request
// reaches the token endpoint.
func TestNoTokenYetWaitsForTheFamilysFirstPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		path := filepath.Join(t.TempDir(), "family.json")
		mem := &audit.Memory{}
		b, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(&FileCoordinator{Path: path}), WithAudit(mem))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_, err = b.Token(ctx)
		var re *RefreshError
		if !errors.As(err, &re) || re.Cause != states.NoTokenYetCause || !errors.Is(err, ErrNoRefreshToken) || errors.Is(err, ErrRevoked) {
			t.Fatalf("Token without a token = %v; want a *RefreshError saying %q", err, states.NoTokenYetCause)
		}
		if st := b.Status(); st.State != states.Expired || st.Cause != states.NoTokenYetCause {
			t.Fatalf("status %v %q, want expired, waiting for a pair", st.State, st.Cause)
		}
		waited := make(chan Token, 1)
		go func() {
			tok, err := b.Token(ContextWithWait(ctx, true))
			if err != nil {
				t.Errorf("a caller that may wait: %v", err)
			}
			waited <- tok
		}()
		synctest.Wait()

		a, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(&FileCoordinator{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		seed := Token{Access: "seed-access", Refresh: "seed-refresh", Expiry: time.Now().Add(time.Hour)}
		if err := a.SetToken(ctx, seed); err != nil {
			t.Fatal(err)
		}
		if tok := <-waited; tok.Access != "seed-access" {
			t.Fatalf("the waiting caller got %q, want the family's first pair", tok.Access)
		}
		if tok, err := b.Token(ctx); err != nil || tok.Access != "seed-access" {
			t.Fatalf("Token after the family was seeded = %v, %v", tok, err)
		}
		log := strings.Join(events(mem.Records()), "\n")
		if strings.Contains(log, "revoke") || strings.Contains(log, "deny") || !strings.Contains(log, "no_token: "+states.NoTokenYetCause) ||
			!strings.Contains(log, "adopt: pair published by another process (generation 1)") {
			t.Errorf("b's transitions:\n%s", log)
		}
		if n, _, _ := fe.Stats(); n != 0 {
			t.Errorf("%d token requests, want none", n)
		}
	})
}

// TestNoRefreshTokenWithoutAFamily: a session given an access token
// without a refresh token has nothing to refresh with when it expires: it
// waits, unrevoked, until SetToken.
func TestNoRefreshTokenWithoutAFamily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		s, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{Access: "only-access", Expiry: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(time.Minute + time.Second)
		_, err = s.Token(ctx)
		if errors.Is(err, ErrRevoked) || !errors.Is(err, ErrNoRefreshToken) || !strings.Contains(err.Error(), states.NoRefreshTokenCause) {
			t.Fatalf("Token = %v", err)
		}
		if err := s.SetToken(ctx, Token{Access: "new-access", Refresh: "new-refresh", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if tok, err := s.Token(ctx); err != nil || tok.Access != "new-access" {
			t.Fatalf("Token after SetToken = %v, %v", tok, err)
		}
		if n, _, _ := fe.Stats(); n != 0 {
			t.Errorf("%d token requests, want none", n)
		}
	})
}

// TestRevokedProcessAdoptsALaterPublish: the authorization server refuses
// one process's refresh token (nothing newer in the store), and it is
// revoked; when another process of the family logs in again (SetToken),
// the revoked one adopts that pair, as the README's table promises
// (revoked → valid: adopt), within the watch's poll.
func TestRevokedProcessAdoptsALaterPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1)
		path := filepath.Join(t.TempDir(), "family.json")
		start := time.Now()
		b, err := New(ctx, testClient(t, fe, testEndpoint{}),
			Token{Access: "b-access", Refresh: "b-refresh", Issued: start, Expiry: start.Add(time.Minute)},
			WithCoordinator(&FileCoordinator{Path: path}), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		time.Sleep(time.Minute + time.Second)
		if _, err := b.Token(ctx); !errors.Is(err, ErrRevoked) {
			t.Fatalf("b after the refusal: %v, want revoked", err)
		}
		a, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(&FileCoordinator{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		relogin := Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(2 * time.Hour)}
		if err := a.SetToken(ctx, relogin); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if tok, err := b.Token(ctx); err != nil || tok.Access != "relogin-access" {
			t.Fatalf("b a second after another process's re-login: %v, %v", tok, err)
		}
		if st := b.Status(); st.State != states.Valid || st.Generation != a.Status().Generation {
			t.Errorf("b: %v generation %d, a: generation %d", st.State, st.Generation, a.Status().Generation)
		}
	})
}

// TestRevokeStaysRevoked: a session the application revoked (Revoke) does
// not adopt what another process of its family publishes.
func TestRevokeStaysRevoked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		path := filepath.Join(t.TempDir(), "family.json")
		pair := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
		b, err := New(ctx, testClient(t, fe, testEndpoint{}), pair, WithCoordinator(&FileCoordinator{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.Revoke()
		a, err := New(ctx, testClient(t, fe, testEndpoint{}), pair, WithCoordinator(&FileCoordinator{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := a.SetToken(ctx, Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if _, err := b.Token(ctx); !errors.Is(err, ErrRevoked) {
			t.Fatalf("b after Revoke and another process's re-login: %v, want still revoked", err)
		}
	})
}
