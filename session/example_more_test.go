package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/oauth"
)

// refusingServer answers every token request with an OAuth2 refusal.
func refusingServer(status int, code, description string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, description)
	}))
}

// A FileStore keeps the pair across restarts: a new process resumes with
// the refresh token the last one saved.
func ExampleFileStore() {
	srv, _ := tokenServer()
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "authfsm")
	defer os.RemoveAll(dir)
	store := &session.FileStore{Path: filepath.Join(dir, "token.json")} // 0600, replaced atomically

	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "cli"})
	if err != nil {
		log.Fatal(err)
	}
	// The first run starts from a refresh token; later runs pass the zero
	// Token and resume from the store.
	s, err := session.New(context.Background(), client, session.Token{Refresh: "refresh-0"}, session.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	s.Token(context.Background())
	s.Close() // waits for the refresh in flight and saves the pair

	saved, err := store.Load(context.Background())
	fmt.Println(saved.Refresh.Reveal(), err)
	// Output: refresh-1 <nil>
}

// A fallback grant re-authenticates the session when its refresh token is
// refused for good; the audit record says why it was needed.
func ExampleWithFallback() {
	refusing := refusingServer(400, "invalid_grant", "refresh token expired")
	defer refusing.Close()
	srv, _ := tokenServer()
	defer srv.Close()

	refresh, _ := oauth.NewClient(oauth.Endpoint{TokenURL: refusing.URL, ClientID: "svc", ClientSecret: "s"})
	cc, _ := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "svc", ClientSecret: "s",
		Grant: oauth.GrantClientCredentials})
	mem := &audit.Memory{}
	s, err := session.New(context.Background(), refresh, session.Token{Refresh: "old"},
		session.WithFallback(cc), session.WithAudit(mem))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := s.Token(context.Background())
	fmt.Println(tok.Access.Reveal(), err)
	s.Close() // delivers the audit records still on their way
	recs := mem.Records()
	fmt.Println(recs[len(recs)-1].Cause)
	// Output:
	// access-1 <nil>
	// fallback grant after the refresh token was refused (400 invalid_grant)
}

// A *RefreshError says what failed, which attempt, when the next is due and
// whether the token is still valid; errors.As reaches its fields.
func ExampleRefreshError() {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	defer down.Close()
	client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: down.URL})
	s, _ := session.New(context.Background(), client, session.Token{Refresh: "r"},
		session.WithPolicy(policy.Constant{Wait: time.Minute}))
	defer s.Close()

	_, err := s.Token(context.Background())
	var re *session.RefreshError
	if errors.As(err, &re) {
		fmt.Println(re.Status, re.Cause, re.Attempt, re.NextAt.Sub(re.At).Round(time.Minute), re.TokenValid)
	}
	// Output: 502 502 Bad Gateway 1 1m0s false
}

// A *RevokedError matches ErrRevoked; a refused client also matches
// ErrMisconfigured and carries the server's description.
func ExampleRevokedError() {
	srv := refusingServer(401, "invalid_client", "Client authentication failed")
	defer srv.Close()
	client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "app", ClientSecret: "wrong"})
	s, _ := session.New(context.Background(), client, session.Token{Refresh: "r"})
	defer s.Close()

	_, err := s.Token(context.Background())
	var re *session.RevokedError
	if errors.As(err, &re) {
		fmt.Println(errors.Is(err, session.ErrRevoked), errors.Is(err, session.ErrMisconfigured))
		fmt.Println(re.Code, "-", re.Description)
	}
	// Output:
	// true true
	// invalid_client - Client authentication failed
}

// Processes of one client share a rotating refresh token through a
// coordinator: here two sessions of this process stand for two processes
// on one host. Only one of them refreshes; the other adopts its pair.
func ExampleFileCoordinator() {
	srv, requests := tokenServer()
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "authfsm")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "family.json")

	var ss []*session.Session
	for range 2 {
		client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL})
		s, err := session.New(context.Background(), client, session.Token{Refresh: "refresh-0"},
			session.WithCoordinator(&session.FileCoordinator{Path: path, Poll: 10 * time.Millisecond}))
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		ss = append(ss, s)
	}
	a, _ := ss[0].Token(context.Background())
	b, _ := ss[1].Token(context.Background())
	fmt.Println(a.Access.Reveal(), b.Access.Reveal(), "token requests:", requests.Load(), "generation:", ss[1].Status().Generation)
	// Output: access-1 access-1 token requests: 1 generation: 1
}

// A Manager keeps one session per end user, created on first use.
func ExampleNewManager() {
	srv, _ := tokenServer()
	defer srv.Close()
	client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL})
	m := session.NewManager(func(ctx context.Context, user string) (*session.Session, error) {
		// In a service: the user's coordinator key or store, and options.
		return session.New(ctx, client, session.Token{Refresh: session.Secret("refresh-of-" + user)}, session.WithID(user))
	}, session.WithIdleTimeout(30*time.Minute))
	defer m.Close()

	tok, err := m.Token(context.Background(), "alice")
	fmt.Println(tok.Access.Reveal() != "", err, m.Len())
	// Output: true <nil> 1
}

// Hooks observe a session without holding it up: here, every request and
// transition, as a metrics adapter would count them.
func ExampleWithHooks() {
	srv, _ := tokenServer()
	defer srv.Close()
	client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL})
	var lines []string
	s, _ := session.New(context.Background(), client, session.Token{Refresh: "r"}, session.WithHooks(hooks.Hooks{
		RequestDone: func(d hooks.RequestDone) { lines = append(lines, fmt.Sprint("request ", d.Status, " ", d.Class)) },
		Transition:  func(r audit.Record) { lines = append(lines, fmt.Sprint(r.From, " -> ", r.To)) },
	}))
	s.Token(context.Background())
	s.Close() // delivers what is left
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// expired -> refreshing
	// request 200 ok
	// refreshing -> valid
}
