package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDiscoveryErrorNamesTheDocument: a failed discovery names the
// metadata document it fetched, not a token endpoint, which it is not.
func TestDiscoveryErrorNamesTheDocument(t *testing.T) {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/bad/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>502</html>", http.StatusBadGateway)
	})
	mux.HandleFunc("/liar/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Metadata{Issuer: "https://evil.example", TokenEndpoint: srv.URL + "/token"})
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct{ issuer, want string }{
		{"/bad", "session: discovery document " + srv.URL + "/bad/.well-known/openid-configuration answered 502 Bad Gateway"},
		{"/liar", "session: discovery document " + srv.URL + "/liar/.well-known/openid-configuration answered 200 OK: metadata names issuer"},
	} {
		_, err := Discover(context.Background(), nil, srv.URL+tc.issuer, false)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Discover(%s) = %v, want an error starting %q", tc.issuer, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "token endpoint") {
			t.Errorf("Discover(%s) calls the discovery document a token endpoint: %v", tc.issuer, err)
		}
	}
}
