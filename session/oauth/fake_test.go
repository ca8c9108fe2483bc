package oauth

import (
	"net/http"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session/internal/fakeidp"
)

// The Client's tests run against the fake token endpoint of package
// fakeidp.

type (
	fakeEndpoint = fakeidp.Endpoint
	fault        = fakeidp.Fault
	lockedBuffer = fakeidp.LockedBuffer
)

func newFakeEndpoint(ttl time.Duration) *fakeEndpoint { return fakeidp.New(ttl) }

const badGatewayPage = fakeidp.BadGatewayPage

var respond = fakeidp.Respond

const testURL = "https://auth.example/oauth/token"

// testClient returns a Client of e on fe, with testURL and the client
// "app" (secret "app-secret") unless e names others.
func testClient(t *testing.T, fe *fakeEndpoint, e Endpoint) *Client {
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
