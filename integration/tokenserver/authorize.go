package tokenserver

import (
	"fmt"
	"html"
	"net/http"

	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"
)

// The login side of the server: fosite's authorization endpoint for the
// authorization code grant with PKCE, behind a login page a test fills in
// as a user would, and the clients of the login tests.

// AuthPath is the authorization endpoint.
const AuthPath = "/oauth2/auth"

// Clients registered besides Config.ClientID.
const (
	// CLIClientID is a public client (token_endpoint_auth_method none, as
	// a command-line tool is) for the authorization code grant, which
	// fosite requires to use PKCE with S256, and refresh_token. Its
	// redirect URI is http://127.0.0.1/callback on any port (RFC 8252
	// §7.3, as fosite matches loopback redirect URIs).
	CLIClientID = "authfsm-cli"
	// PostClientID and PostClientSecret are a confidential client of the
	// client_credentials grant that may authenticate only with
	// client_secret_post: fosite answers its secret in a Basic header with
	// 401 invalid_client.
	PostClientID     = "authfsm-post"
	PostClientSecret = "it-post-secret"
)

// registerLoginClients adds CLIClientID and PostClientID to store.
func registerLoginClients(clients map[string]fosite.Client) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(PostClientSecret), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("tokenserver: hashing client secret: %w", err)
	}
	clients[CLIClientID] = &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID:            CLIClientID,
			Public:        true,
			RedirectURIs:  []string{"http://127.0.0.1/callback"},
			GrantTypes:    []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"},
			Scopes:        []string{"offline", "api"},
		},
		TokenEndpointAuthMethod: "none",
	}
	clients[PostClientID] = &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID:         PostClientID,
			Secret:     hash,
			GrantTypes: []string{"client_credentials"},
			Scopes:     []string{"api"},
		},
		TokenEndpointAuthMethod: "client_secret_post",
	}
	return nil
}

// serveAuthorize is the authorization endpoint: fosite checks the request
// (client, redirect URI, PKCE), a GET shows the login page, and its POST
// signs the user in and approves (action=approve) or denies the request,
// answered by fosite's redirect to the client.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	if r.Method != http.MethodPost {
		s.loginPage(w, r, "")
		return
	}
	if r.PostForm.Get("username") != s.cfg.Username || r.PostForm.Get("password") != s.cfg.Password {
		s.loginPage(w, r, "Wrong username or password.")
		return
	}
	if r.PostForm.Get("action") != "approve" {
		s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	s.fositeMu.Lock()
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, &fosite.DefaultSession{Username: s.cfg.Username, Subject: s.cfg.Username})
	s.fositeMu.Unlock()
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// loginPage is the page a user signs in on: a form posted back to the
// same URL, the authorization request's parameters in its query.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<!doctype html><html><head><title>Sign in</title></head><body>
<p>%s</p>
<form method="post" action="%s">
<input name="username"> <input name="password" type="password">
<button name="action" value="approve">Allow</button> <button name="action" value="deny">Deny</button>
</form></body></html>
`, html.EscapeString(problem), html.EscapeString(r.URL.RequestURI()))
}
