package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authfsm/authfsm/session"
)

// TestRevokeDiscoversTheEndpoint: Client.Revoke finds the revocation
// endpoint in the issuer's metadata (RFC 8414), sends the token with its
// hint and the client's credentials, and takes a 200 for done; a Client
// whose issuer names none says so.
func TestRevokeDiscoversTheEndpoint(t *testing.T) {
	var mu sync.Mutex
	var got url.Values
	withEndpoint := true
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		md := map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"}
		mu.Lock()
		if withEndpoint {
			md["revocation_endpoint"] = srv.URL + "/revoke"
		}
		mu.Unlock()
		json.NewEncoder(w).Encode(md)
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		got = r.PostForm
		mu.Unlock()
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	c, err := NewClient(Endpoint{Issuer: srv.URL, ClientID: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(context.Background(), "rt-1", session.HintRefreshToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	mu.Lock()
	if got.Get("token") != "rt-1" || got.Get("token_type_hint") != session.HintRefreshToken || got.Get("client_id") != "cli" {
		t.Errorf("the revocation request: %v", got)
	}
	withEndpoint = false
	mu.Unlock()
	c2, _ := NewClient(Endpoint{Issuer: srv.URL, ClientID: "cli"})
	if err := c2.Revoke(context.Background(), "rt-1", ""); !errors.Is(err, session.ErrNoRevocationEndpoint) {
		t.Errorf("Revoke without a revocation endpoint: %v", err)
	}
	c3, _ := NewClient(Endpoint{TokenURL: srv.URL + "/token", ClientID: "cli"})
	if err := c3.Revoke(context.Background(), "rt-1", ""); !errors.Is(err, session.ErrNoRevocationEndpoint) {
		t.Errorf("Revoke of a Client with a token URL only: %v", err)
	}
}

// TestRevokeScrubsTheToken: a revocation endpoint that echoes the token it
// could not revoke does not have the Client print it.
func TestRevokeScrubsTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":"temporarily_unavailable","error_description":"cannot revoke %s now"}`, r.PostForm.Get("token"))
	}))
	defer srv.Close()
	c, err := NewClient(Endpoint{TokenURL: srv.URL + "/token", RevocationURL: srv.URL + "/revoke", ClientID: "cli", ClientSecret: "cli-secret"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Revoke(context.Background(), "rt-secret-1", session.HintRefreshToken)
	var ee *session.EndpointError
	if !errors.As(err, &ee) || ee.Status != 503 || ee.Code != "temporarily_unavailable" {
		t.Fatalf("Revoke = %v", err)
	}
	for _, secret := range []string{"rt-secret-1", "cli-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error carries %s: %v", secret, err)
		}
	}
}
