package oauth

import (
	"net/http"
	"testing"

	"github.com/authfsm/authfsm/session/internal/fakeidp"
)

// The Client's tests run against the fake token endpoint of package
// fakeidp.

const testURL = "https://auth.example/oauth/token"

// testClient returns a Client of e on fe, with testURL and the client
// "app" (secret "app-secret") unless e names others.
func testClient(t *testing.T, fe *fakeidp.Endpoint, e Endpoint) *Client {
	t.Helper()
	if e.TokenURL == "" {
		e.TokenURL = testURL
	}
	if e.ClientID == "" {
		e.ClientID = "app"
		e.ClientSecret = "app-secret"
	}
	e.HTTPClient = &http.Client{Transport: fe}
	c, err := NewClient(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
