package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/google/go-cmp/cmp"
)

// styleServer is a token endpoint that accepts the client's secret only in
// the ways it is told to, and records how each request authenticated.
type styleServer struct {
	basic, body bool // the styles accepted
	status      int  // when set, every request is answered this status (a 503 page)
	mu          sync.Mutex
	seen        []string // "basic", "body" or "none", per request
	n           int
}

func (s *styleServer) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(b))
	id, secret, isBasic := req.BasicAuth()
	how := "none"
	switch {
	case isBasic && form.Has("client_secret"):
		how = "both"
	case isBasic:
		how = "basic"
	case form.Has("client_secret"):
		how = "body"
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	s.mu.Lock()
	s.seen = append(s.seen, how)
	s.n++
	n := s.n
	s.mu.Unlock()
	if s.status != 0 {
		return fakeidp.Respond(req, s.status, "text/html", fakeidp.BadGatewayPage, ""), nil
	}
	ok := (how == "basic" && s.basic) || (how == "body" && s.body)
	if !ok || id != "app" || secret != "app-secret" {
		return fakeidp.Respond(req, 401, "application/json", `{"error":"invalid_client","error_description":"Client authentication failed"}`, ""), nil
	}
	return fakeidp.Respond(req, 200, "application/json", fmt.Sprintf(`{"access_token":"at-%d","expires_in":3600,"token_type":"Bearer"}`, n), ""), nil
}

func (s *styleServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.seen
	s.seen = nil
	return seen
}

// TestAuthStyleAutoDetect: with the default AuthStyle a Client tries HTTP
// Basic, tries the body once when the server answers invalid_client, and
// remembers what worked; an explicit style is used alone. Before, a server
// that takes the secret only in the body stopped the session as
// "misconfigured".
func TestAuthStyleAutoDetect(t *testing.T) {
	tests := []struct {
		name        string
		srv         *styleServer
		style       AuthStyle
		first, then []string // the styles of the first two refreshes' requests
		err         string   // the first refresh's error, if any
	}{
		{"body only", &styleServer{body: true}, AuthAutoDetect, []string{"basic", "body"}, []string{"body"}, ""},
		{"basic only", &styleServer{basic: true}, AuthAutoDetect, []string{"basic"}, []string{"basic"}, ""},
		{"either", &styleServer{basic: true, body: true}, AuthAutoDetect, []string{"basic"}, []string{"basic"}, ""},
		{"neither: nothing is remembered", &styleServer{}, AuthAutoDetect, []string{"basic", "body"}, []string{"basic", "body"}, "invalid_client"},
		{"a 503 is no reason to try the body", &styleServer{body: true, status: 503}, AuthAutoDetect, []string{"basic"}, []string{"basic"}, "503"},
		{"explicit Basic against body only", &styleServer{body: true}, AuthBasic, []string{"basic"}, []string{"basic"}, "invalid_client"},
		{"explicit body", &styleServer{basic: true, body: true}, AuthBody, []string{"body"}, []string{"body"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret", AuthStyle: tc.style,
				Grant: GrantClientCredentials, HTTPClient: &http.Client{Transport: tc.srv}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Refresh(context.Background(), session.Token{})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("first refresh: %v, want an error with %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.first, tc.srv.take()); diff != "" {
				t.Errorf("the first refresh's requests (-want +got):\n%s", diff)
			}
			c.Refresh(context.Background(), session.Token{})
			if diff := cmp.Diff(tc.then, tc.srv.take()); diff != "" {
				t.Errorf("the second refresh's requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthStyleAutoDetectSession: a Session against a server that takes the
// secret only in the body keeps its refresh token alive; the client's
// refusal is reported only when the body is refused too.
func TestAuthStyleAutoDetectSession(t *testing.T) {
	srv := &styleServer{body: true}
	c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret",
		Grant: GrantClientCredentials, HTTPClient: &http.Client{Transport: srv}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.New(context.Background(), c, session.Token{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatalf("Token against a body-only server: %v", err)
	}

	basic, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret", AuthStyle: AuthBasic,
		Grant: GrantClientCredentials, HTTPClient: &http.Client{Transport: &styleServer{body: true}}})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := session.New(context.Background(), basic, session.Token{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Token(context.Background()); !errors.Is(err, session.ErrMisconfigured) {
		t.Errorf("Token with AuthBasic against a body-only server = %v, want ErrMisconfigured", err)
	}
}

// TestAuthStyleWithoutSecret: a public client sends its id in the body, and
// a client with an assertion its assertion: nothing to detect, one request.
func TestAuthStyleWithoutSecret(t *testing.T) {
	var auths, ids []string
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(b))
		auths, ids = append(auths, req.Header.Get("Authorization")), append(ids, form.Get("client_id"))
		return fakeidp.Respond(req, 401, "application/json", `{"error":"invalid_client"}`, ""), nil
	})
	c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "cli", HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(context.Background(), session.Token{Refresh: "r"})
	if diff := cmp.Diff([]string{""}, auths); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cli"}, ids); diff != "" {
		t.Errorf("client_id (-want +got):\n%s", diff)
	}
}

// TestAuthStyleAutoDetectConcurrent: many refreshes at once against a
// body-only server all succeed, each sending at most the one probe, and the
// style found is kept (run with -race).
func TestAuthStyleAutoDetectConcurrent(t *testing.T) {
	srv := &styleServer{body: true}
	c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret",
		Grant: GrantClientCredentials, HTTPClient: &http.Client{Transport: srv}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.Refresh(context.Background(), session.Token{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := srv.take()
	if n := len(seen); n < 21 || n > 40 {
		t.Errorf("%d requests for 20 refreshes, want 21 to 40", n)
	}
	c.Refresh(context.Background(), session.Token{})
	if diff := cmp.Diff([]string{"body"}, srv.take()); diff != "" {
		t.Errorf("after detection (-want +got):\n%s", diff)
	}
}
