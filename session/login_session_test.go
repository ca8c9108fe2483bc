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

// TestWithLoginRunsOnDemand: a session with a login method and no token
// needs a login; the demand that finds it so runs the login. A denied
// login is the caller's error (a *LoginRequiredError that unwraps to the
// login's own), never a revocation, and is not retried by
// itself; the next demand logs in again, and the pair is installed, saved
// to the store and refreshed like any other.
func TestWithLoginRunsOnDemand(t *testing.T) {
	errLoginDenied := errors.New("device login: access denied (access_denied)")
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		fe.Refresh = "login-refresh" // the server issued it at the login
		logins := 0
		login := LoginFunc(func(ctx context.Context) (Token, error) {
			logins++
			time.Sleep(20 * time.Second) // the user reads the code and approves
			if logins == 1 {
				return Token{}, errLoginDenied
			}
			return Token{Access: "login-access", Refresh: "login-refresh", Expiry: time.Now().Add(30 * time.Minute)}, nil
		})
		store := &MemoryStore{}
		mem := &audit.Memory{}
		s, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithLogin(login), WithStore(store), WithAudit(mem))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Token(ctx)
		var lr *LoginRequiredError
		if !errors.As(err, &lr) || !errors.Is(err, ErrLoginRequired) || !errors.Is(err, errLoginDenied) || errors.Is(err, ErrRevoked) ||
			lr.Reason != states.ReasonLoginFailed {
			t.Fatalf("Token through a denied login = %v", err)
		}
		if st := s.Status(); st.State != states.NeedsLogin || !errors.Is(st.LastError, ErrLoginRequired) {
			t.Fatalf("status after a denied login: %v, %v", st.State, st.LastError)
		}
		synctest.Wait()
		if logins != 1 {
			t.Fatalf("%d logins after the denied one, want 1: a failed login is not retried by itself", logins)
		}
		tok, err := s.Token(ctx)
		if err != nil || tok.Access != "login-access" || logins != 2 {
			t.Fatalf("Token through the second login = %v, %v (logins %d)", tok, err, logins)
		}
		if got, err := store.Load(ctx); err != nil || got.Refresh != "login-refresh" {
			t.Fatalf("the store after the login holds %v, %v", got, err)
		}
		s.Reject(tok.Access)
		if next, err := s.Token(ctx); err != nil || next.Access == tok.Access {
			t.Fatalf("the refresh of the login's pair: %v, %v", next, err)
		}
		want := []string{
			"refresh: token demanded",
			"need_login: " + states.NoTokenYetCause,
			"login: token demanded",
			"login_failed: login failed: " + errLoginDenied.Error(),
			"login: token demanded",
			"logged_in: logged in",
		}
		if got := events(mem.Records()); strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
			t.Errorf("transitions:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestRefusalNeedsLoginElsewhere: a session whose login happens outside it
// (WithLoginElsewhere) is not revoked when the server refuses its refresh
// token for good: it needs a login, says how, serves nothing and sends
// nothing more, and SetToken ends the wait.
func TestRefusalNeedsLoginElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 0)
		const hint = "run authfsm login --profile api"
		s, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{Access: "old-access", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Minute)},
			WithLogin(elsewhere(hint)), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(time.Minute + time.Second)
		_, err = s.Token(ctx)
		var lr *LoginRequiredError
		if !errors.As(err, &lr) || errors.Is(err, ErrRevoked) || lr.Hint != hint || lr.Reason != states.ReasonRefused ||
			err.Error() != "session: login required: 400 invalid_grant; "+hint {
			t.Fatalf("Token after the refusal = %v", err)
		}
		before, _, _ := fe.Stats()
		for range 5 {
			s.Token(ctx)
			time.Sleep(time.Minute)
		}
		if n, _, _ := fe.Stats(); n != before || s.Status().State != states.NeedsLogin {
			t.Fatalf("%d more token requests while a login was needed (state %v), want none", n-before, s.Status().State)
		}
		if err := s.SetToken(ctx, Token{Access: "new-access", Refresh: "new-refresh", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if tok, err := s.Token(ctx); err != nil || tok.Access != "new-access" {
			t.Fatalf("Token after SetToken = %v, %v", tok, err)
		}
	})
}

// TestLoginElsewhereAdoptsPublishedPair: a process of a family that needs
// a login adopts the pair a login outside any session publishes
// (PublishPair, what `authfsm login` does), and so does a caller waiting
// for it.
func TestLoginElsewhereAdoptsPublishedPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		path := filepath.Join(t.TempDir(), "family.json")
		b, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(&FileCoordinator{Path: path}),
			WithLogin(elsewhere("run authfsm login")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_, err = b.Token(ctx)
		if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), states.NoTokenYetCause) {
			t.Fatalf("Token without a token = %v", err)
		}
		waited := make(chan Token, 1)
		go func() {
			tok, err := b.Token(ContextWithWait(ctx, true))
			if err != nil {
				t.Errorf("the waiting caller: %v", err)
			}
			waited <- tok
		}()
		synctest.Wait()
		pair := Token{Access: "login-access", Refresh: "login-refresh", Expiry: time.Now().Add(time.Hour)}
		if gen, err := PublishPair(ctx, &FileCoordinator{Path: path}, pair); err != nil || gen != 1 {
			t.Fatalf("PublishPair = %d, %v", gen, err)
		}
		if tok := <-waited; tok.Access != "login-access" {
			t.Fatalf("the waiting caller got %v", tok)
		}
		if st := b.Status(); st.State != states.Valid || st.Generation != 1 {
			t.Fatalf("b: %v generation %d", st.State, st.Generation)
		}
	})
}

// TestOwnLoginAbandonedForFamilysPair: a login under way ends when another
// process of the family publishes a pair first: its context is cancelled,
// and the callers get the family's pair.
func TestOwnLoginAbandonedForFamilysPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		path := filepath.Join(t.TempDir(), "family.json")
		ended := make(chan error, 1)
		login := LoginFunc(func(ctx context.Context) (Token, error) {
			<-ctx.Done() // the user never approves
			ended <- ctx.Err()
			return Token{}, ctx.Err()
		})
		s, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(&FileCoordinator{Path: path}), WithLogin(login))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := make(chan Token, 1)
		go func() {
			tok, err := s.Token(ctx)
			if err != nil {
				t.Errorf("Token: %v", err)
			}
			got <- tok
		}()
		synctest.Wait()
		if st := s.Status(); st.State != states.LoggingIn {
			t.Fatalf("state %v, want logging_in", st.State)
		}
		if _, err := PublishPair(ctx, &FileCoordinator{Path: path}, Token{Access: "other-access", Refresh: "other-refresh",
			Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if tok := <-got; tok.Access != "other-access" {
			t.Fatalf("Token = %v, want the family's pair", tok)
		}
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("the login ended with %v, want cancelled", err)
		}
	})
}

// TestOwnLoginPublishedToTheFamily: a process's own login is published as
// its family's next generation, whatever the family held, and the family's
// other process, which needs a login too, adopts it.
func TestOwnLoginPublishedToTheFamily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		coord := &MemoryCoordinator{}
		if _, err := PublishPair(ctx, coord, Token{}); err != nil { // a family logged out before
			t.Fatal(err)
		}
		login := LoginFunc(func(ctx context.Context) (Token, error) {
			return Token{Access: "login-access", Refresh: "login-refresh", Expiry: time.Now().Add(time.Hour)}, nil
		})
		b, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(coord), WithLogin(elsewhere("log in")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.Token(ctx); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("b without a pair: %v", err)
		}
		a, err := New(ctx, testClient(t, fe, testEndpoint{}), Token{}, WithCoordinator(coord), WithLogin(login))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if tok, err := a.Token(ctx); err != nil || tok.Access != "login-access" {
			t.Fatalf("a's login: %v, %v", tok, err)
		}
		synctest.Wait()
		if fam, _ := coord.Read(ctx); fam.Generation != 2 || fam.Pair.Refresh != "login-refresh" {
			t.Fatalf("the family after a's login: generation %d, %v", fam.Generation, fam.Pair)
		}
		if tok, err := b.Token(ctx); err != nil || tok.Access != "login-access" {
			t.Fatalf("b after a's login: %v, %v", tok, err)
		}
	})
}
