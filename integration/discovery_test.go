package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// TestDiscovery starts a client_credentials session from an issuer alone
// (Endpoint.Issuer, with a path as Keycloak's realms have) while the
// authorization server is down, so that nginx answers 502 to the metadata
// request: the failed discovery is a transient refresh failure, retried on
// the policy's schedule; once the server is back the session finds the
// token endpoint in the metadata and gets its token within the recovery
// bound, and later refreshes use the discovered endpoint without fetching
// the metadata again. The server publishes RFC 8414's document, or only
// OpenID Connect's, which the session finds after RFC 8414's 404.
func TestDiscovery(t *testing.T) {
	const realm = "/realms/it"
	rfc8414 := "/.well-known/oauth-authorization-server" + realm
	oidc := realm + "/.well-known/openid-configuration"
	for _, tc := range []struct {
		name    string
		publish tokenserver.Discovery
		// fetched are the metadata requests nginx sees once the server
		// is back, with their statuses.
		fetched []string
	}{
		{"rfc8414", tokenserver.DiscoveryRFC8414, []string{"200 " + rfc8414}},
		{"openid-configuration", tokenserver.DiscoveryOIDC, []string{"404 " + rfc8414, "200 " + oidc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 3 * time.Second}, nginx.Config{})
			issuer := e.px.URL() + realm
			if err := e.srv.SetIssuer(issuer, tc.publish); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.Stop(); err != nil {
				t.Fatal(err)
			}
			tokens := newTokenCounter()
			c, err := oauth.NewClient(oauth.Endpoint{
				Issuer: issuer, ClientID: e.srv.ClientID(), ClientSecret: session.Secret(e.srv.ClientSecret()),
				Grant: oauth.GrantClientCredentials, Scopes: []string{"api"}, HTTPClient: &http.Client{Transport: tokens},
			})
			if err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			s, mem, _ := newSession(t, c, session.Token{}, "discovery",
				session.WithRefreshAhead(refreshAhead), session.WithRequestTimeout(requestTimeout))
			// The first demand starts the refresh, whose discovery fails:
			// a refresh error that names nginx's 502 for the RFC 8414
			// document. The session retries on its own meanwhile.
			check := func(err error) {
				t.Helper()
				var re *session.RefreshError
				var ee *session.EndpointError
				if !errors.As(err, &re) || !errors.As(err, &ee) || ee.Status != http.StatusBadGateway || !strings.HasSuffix(ee.URL, rfc8414) {
					t.Errorf("Token during the outage = %v, want a refresh error naming a 502 for %s", err, rfc8414)
				} else {
					t.Logf("Token during the outage: %v", err)
				}
			}
			_, err = s.Token(session.ContextWithWait(t.Context(), false))
			check(err)
			time.Sleep(1200 * time.Millisecond)
			_, err = s.Token(session.ContextWithWait(t.Context(), false))
			check(err)
			if c.URL() != issuer {
				t.Errorf("Client.URL() during the outage = %s, want the issuer", c.URL())
			}

			if err := e.srv.Start(); err != nil {
				t.Fatal(err)
			}
			restarted := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if _, err := s.Token(session.ContextWithWait(ctx, true)); err != nil {
				t.Fatalf("Token after the restart: %v", err)
			}
			recovery, bound := time.Since(restarted), fastPolicy.Max+requestTimeout
			t.Logf("a token %v after the restart (bound %v); %d requests during a %v outage",
				recovery.Round(time.Millisecond), bound, tokens.between(stopped, restarted), restarted.Sub(stopped).Round(time.Millisecond))
			if recovery > bound {
				t.Errorf("the first token came %v after the restart, later than the recovery bound %v", recovery, bound)
			}
			if n, max := tokens.between(stopped, restarted), attemptsWithin(fastPolicy, restarted.Sub(stopped)); n < 3 || n > max {
				t.Errorf("%d discovery attempts during the outage; want the policy's retries, at least 3 and at most %d", n, max)
			}
			if want := issuer + tokenserver.TokenPath; c.URL() != want {
				t.Errorf("Client.URL() = %s, want the discovered %s", c.URL(), want)
			}

			// A refresh-ahead later: the discovered endpoint, no new fetch.
			// nginx logs a request once it has answered it, so its line
			// may come after the session has the answer.
			var entries []nginx.LogEntry
			waitFor(t, "a second token", 5*time.Second, func() bool {
				entries, err = e.px.AccessLog()
				if err != nil {
					t.Fatal(err)
				}
				posts := 0
				for _, le := range entries {
					if le.Method == http.MethodPost {
						posts++
					}
				}
				return countEvents(mem.Records(), "succeed") >= 2 && posts >= 2
			})
			var outage, fetched, posted []string
			for _, le := range entries {
				line := fmt.Sprintf("%d %s", le.Status, le.Path)
				switch {
				case le.Method == http.MethodPost:
					posted = append(posted, line)
				case le.At.Before(restarted):
					outage = append(outage, line)
				default:
					fetched = append(fetched, line)
				}
			}
			t.Logf("nginx: during the outage %q; after it %q; token requests %q", outage, fetched, posted)
			if len(outage) == 0 {
				t.Error("no metadata request reached nginx during the outage")
			}
			for _, line := range outage {
				if line != "502 "+rfc8414 {
					t.Errorf("during the outage: %s, want only 502s for the RFC 8414 document", line)
				}
			}
			if diff := cmp.Diff(tc.fetched, fetched); diff != "" {
				t.Errorf("metadata requests after the restart (-want +got):\n%s", diff)
			}
			for _, line := range posted {
				if line != "200 "+realm+tokenserver.TokenPath {
					t.Errorf("token request: %s, want 200 at the discovered endpoint", line)
				}
			}
			if len(posted) < 2 {
				t.Errorf("%d token requests, want 2", len(posted))
			}

			seq := transitions(mem.Records())
			want := []string{
				"expired→refreshing refresh: token demanded",
				"refreshing→backoff fail: 502 Bad Gateway",
				"backoff→refreshing retry: retry due",
				"refreshing→valid succeed",
				"valid→refreshing refresh_ahead: refresh-ahead point reached",
				"refreshing→valid succeed",
			}
			seq = seq[:min(len(seq), len(want))] // later cycles may have begun
			if diff := cmp.Diff(want, seq); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
		})
	}
}
