package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// tokenServer is a token endpoint on loopback (plain HTTP is allowed there)
// that issues access-1, access-2, … and counts requests.
func tokenServer() (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"refresh-%d"}`, i, i)
	}))
	return srv, &n
}

func ExampleSession() {
	srv, _ := tokenServer()
	defer srv.Close()

	client, err := oauth.NewClient(oauth.Endpoint{
		TokenURL:     srv.URL + "/oauth/token",
		ClientID:     "my-app",
		ClientSecret: "my-secret",
		// Persist every rotated pair, e.g. to a secret manager.
		OnToken: func(t session.Token) { fmt.Println("new pair, expires in", t.Expiry.Sub(t.Issued)) },
	})
	if err != nil {
		log.Fatal(err)
	}
	// Start from a refresh token only (say, from the last run); the first
	// Token call refreshes.
	s, err := session.New(context.Background(), client, session.Token{Refresh: "refresh-0"},
		session.WithRefreshAhead(5*time.Minute),
		session.WithPolicy(policy.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	tok, err := s.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Access.Reveal(), s.Status().State)
	fmt.Println(strings.HasPrefix(fmt.Sprint(tok.Access), "[redacted sha256:"))
	// Output:
	// new pair, expires in 1h0m0s
	// access-1 valid
	// true
}

func ExampleTransport() {
	srv, requests := tokenServer()
	defer srv.Close()
	// The API has already stopped accepting access-0 (say, it was revoked
	// server-side): the Transport reports the 401, waits for a new token
	// and replays the request once.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer access-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer api.Close()

	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "my-app", ClientSecret: "my-secret"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.New(context.Background(), client,
		session.Token{Access: "access-0", Refresh: "refresh-0", Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	hc := &http.Client{Transport: &session.Transport{Session: s}}
	resp, err := hc.Post(api.URL, "text/plain", strings.NewReader("payload"))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", requests.Load(), "token request")
	// Output:
	// 200 OK after 1 token request
}

func ExampleRejectionFrom() {
	srv, requests := tokenServer()
	defer srv.Close()
	// The API refuses every token of this client: it lacks a scope.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="items:write"`)
		http.Error(w, `{"error":"insufficient_scope"}`, http.StatusUnauthorized)
	}))
	defer api.Close()

	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "my-app", ClientSecret: "my-secret"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.New(context.Background(), client,
		session.Token{Access: "access-0", Refresh: "refresh-0", Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// access-0 is refused, access-1 (fetched for the replay) is refused
	// too: the caller gets that second 401 as the API sent it.
	hc := &http.Client{Transport: &session.Transport{Session: s}}
	resp, err := hc.Get(api.URL)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, " ", string(body))
	// RejectionFrom tells that the refreshed token was refused too: the
	// session counted a failed attempt, and the retry policy paces the
	// next token request.
	var rj *session.RejectedError
	if err := session.RejectionFrom(resp); errors.As(err, &rj) {
		fmt.Println(errors.Is(err, session.ErrTokenRejected), rj.Challenge, "next attempt due:", !rj.NextAt.IsZero())
	}
	fmt.Println(requests.Load(), "token request")
	// Output:
	// 401 Unauthorized {"error":"insufficient_scope"}
	// true Bearer error="insufficient_scope", scope="items:write" next attempt due: true
	// 1 token request
}

func ExampleSession_TokenSource() {
	srv, _ := tokenServer()
	defer srv.Close()
	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: srv.URL, ClientID: "my-app", ClientSecret: "my-secret"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.New(context.Background(), client, session.Token{Refresh: "refresh-0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Code written for golang.org/x/oauth2 takes the session as it is.
	var ts oauth2.TokenSource = s.TokenSource(context.Background())
	t, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.TokenType, t.AccessToken, t.RefreshToken == "")
	_ = oauth2.NewClient(context.Background(), ts) // an *http.Client sending the session's tokens
	// Output:
	// Bearer access-1 true
}
