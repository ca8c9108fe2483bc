package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestClientCredentials: the one-line client sends the grant's token to
// the API, and stops when its context ends.
func TestClientCredentials(t *testing.T) {
	fe := fakeidp.New(time.Hour)
	fe.CCNoRefresh = true
	var auths []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan struct{})
	hc, err := ClientCredentials(ctx, Endpoint{TokenURL: testURL, ClientID: "robot", ClientSecret: "s",
		HTTPClient: &http.Client{Transport: fe}}, session.WithHooks(hooks.Hooks{Closed: func(hooks.SessionInfo) { close(closed) }}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := hc.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if diff := cmp.Diff([]string{"Bearer tok-access-1", "Bearer tok-access-1"}, auths); diff != "" {
		t.Errorf("API calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"client_credentials"}, fe.Grants()); diff != "" {
		t.Errorf("token requests (-want +got):\n%s", diff)
	}
	cancel()
	<-closed // context.AfterFunc closes the session on a goroutine of its own
	if _, err := hc.Get(api.URL); !errors.Is(err, session.ErrClosed) {
		t.Errorf("a request after the context ended: %v, want ErrClosed", err)
	}
	if _, err := ClientCredentials(context.Background(), Endpoint{TokenURL: testURL, ClientID: "robot", Grant: GrantRefreshToken}); err == nil ||
		!strings.Contains(err.Error(), "client_credentials grant") {
		t.Errorf("another grant: %v", err)
	}
	if _, err := ClientCredentials(context.Background(), Endpoint{TokenURL: testURL}); err == nil {
		t.Error("no error without a client id")
	}
}

// TestEndpointFromOAuth2: an oauth2.Config's client, its URLs and its
// authentication style carry over; its scopes do not.
func TestEndpointFromOAuth2(t *testing.T) {
	for _, tc := range []struct {
		in   oauth2.AuthStyle
		want AuthStyle
	}{{oauth2.AuthStyleAutoDetect, AuthAutoDetect}, {oauth2.AuthStyleInHeader, AuthBasic}, {oauth2.AuthStyleInParams, AuthBody}} {
		conf := &oauth2.Config{ClientID: "app", ClientSecret: "s", Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{TokenURL: "https://a.example/token", AuthURL: "https://a.example/auth", DeviceAuthURL: "https://a.example/device", AuthStyle: tc.in}}
		e := EndpointFromOAuth2(conf)
		if e.TokenURL != "https://a.example/token" || e.AuthURL != "https://a.example/auth" || e.DeviceAuthURL != "https://a.example/device" ||
			e.ClientID != "app" || e.ClientSecret != "s" || e.AuthStyle != tc.want || e.Scopes != nil {
			t.Errorf("EndpointFromOAuth2(%v) = %v (auth URL %q, device %q, scopes %q)", tc.in, e, e.AuthURL, e.DeviceAuthURL, e.Scopes)
		}
		if _, err := NewClient(e); err != nil {
			t.Error(err)
		}
	}
	if e := EndpointFromOAuth2(nil); e.TokenURL != "" {
		t.Errorf("EndpointFromOAuth2(nil) = %v", e)
	}
}
