package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

func TestParseLoginBlock(t *testing.T) {
	head := "listen: 127.0.0.1:8180\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    store: {path: t}\n"
	c, err := Parse("/etc/authfsm/agent.yaml", []byte(head+`    client_id: cli
    revocation_url: https://auth.example/revoke
    login:
      flow: browser
      scopes: [openid, offline_access]
      params: {prompt: consent}
      auth_url: https://auth.example/authorize
      listen: 127.0.0.1:8085
      timeout: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &LoginConfig{Flow: LoginBrowser, Scopes: []string{"openid", "offline_access"}, Params: url.Values{"prompt": {"consent"}},
		AuthURL: "https://auth.example/authorize", Listen: "127.0.0.1:8085", Timeout: 2 * time.Minute}
	pr := c.Profiles[0]
	if fmt.Sprint(pr.Login) != fmt.Sprint(want) || pr.RevocationURL != "https://auth.example/revoke" {
		t.Errorf("login %+v, revocation_url %q", pr.Login, pr.RevocationURL)
	}
	c, err = Parse("agent.yaml", []byte(head+"    client_id: cli\n    login: {flow: device}\n"))
	if err != nil || c.Profiles[0].Login.Flow != LoginDevice || c.Profiles[0].Login.Listen != "127.0.0.1:0" ||
		c.Profiles[0].Login.Timeout != login.DefaultBrowserTimeout {
		t.Errorf("a device login block: %+v, %v", c.Profiles[0].Login, err)
	}
	for _, tc := range []struct{ name, src, err string }{
		{"no flow", "    client_id: cli\n    login: {scopes: [a]}\n", "profiles.api.login.flow: required"},
		{"unknown flow", "    client_id: cli\n    login: {flow: password}\n", "profiles.api.login.flow: want device or browser"},
		{"device with listen", "    client_id: cli\n    login: {flow: device, listen: 127.0.0.1:1}\n", "apply to the browser flow only"},
		{"browser with device_url", "    client_id: cli\n    login: {flow: browser, device_url: https://a.example/d}\n", "login.device_url: applies to the device flow only"},
		{"listen not loopback", "    client_id: cli\n    login: {flow: browser, listen: 0.0.0.0:8085}\n", "login.listen: want host:port on the loopback"},
		{"no client_id", "    login: {flow: device}\n", "profiles.api.client_id: required by login"},
		{"plain http auth_url", "    client_id: cli\n    login: {flow: browser, auth_url: http://auth.example/a}\n", "login.auth_url: plain HTTP"},
		{"a credential param", "    client_id: cli\n    login: {flow: device, params: {client_secret: x}}\n", "login.params.client_secret: refused"},
		{"unknown key", "    client_id: cli\n    login: {flow: device, secret: x}\n", "login.secret: unknown key"},
	} {
		_, err := Parse("agent.yaml", []byte(head+tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
		}
	}
	_, err = Parse("agent.yaml", []byte("listen: 127.0.0.1:8180\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: c\n"+
		"    client_secret_env: S\n    grant: client_credentials\n    login: {flow: device}\n"))
	if err == nil || !strings.Contains(err.Error(), "profiles.api.login: applies to the refresh_token grant only") {
		t.Errorf("a client_credentials profile with a login block: %v", err)
	}
}

// authServer is a device flow's authorization server: a device
// authorization endpoint, a token endpoint that issues login-N and
// refresh-N pairs, and a revocation endpoint that records what it revoked.
type authServer struct {
	*httptest.Server
	mu      sync.Mutex
	n       int
	revoked []string
}

func newAuthServer(t *testing.T) *authServer {
	as := &authServer{}
	as.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		as.mu.Lock()
		defer as.mu.Unlock()
		switch r.URL.Path {
		case "/device":
			fmt.Fprintf(w, `{"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"%s/verify","interval":1,"expires_in":60}`, as.URL)
		case "/token":
			as.n++
			fmt.Fprintf(w, `{"access_token":"login-%d","refresh_token":"refresh-%d","token_type":"Bearer","expires_in":3600}`, as.n, as.n)
		case "/revoke":
			as.revoked = append(as.revoked, r.PostForm.Get("token_type_hint")+" "+r.PostForm.Get("token"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(as.Close)
	return as
}

// TestLoginAndLogoutWhileTheAgentRuns: a profile with a login block and an
// empty store starts, its session needing a login: /v1/token says how to
// log in. Login runs the device flow and stores the pair, which the
// running agent adopts; Logout revokes it and removes it, and the agent
// stops serving it — with each kind of store: a file, a file
// coordinator's family, a Redis family (skipped without redis-server
// unless AUTHFSM_REQUIRE_REDIS=1).
func TestLoginAndLogoutWhileTheAgentRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T, dir string) string
	}{
		{"file", func(t *testing.T, dir string) string { return "{path: " + filepath.Join(dir, "api.json") + "}" }},
		{"file coordinator", func(t *testing.T, dir string) string {
			return "{path: " + filepath.Join(dir, "api.json") + ", coordinator: file}"
		}},
		{"redis", func(t *testing.T, dir string) string {
			srv := redistest.Start(t)
			return `{redis: {addr: "` + srv.Addr + `", key: "authfsm:test:{login}"}}`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { loginAndLogout(t, tc.store) })
	}
}

func loginAndLogout(t *testing.T, store func(t *testing.T, dir string) string) {
	as := newAuthServer(t)
	dir := shortDir(t)
	config := `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: ` + as.URL + `/token
    revocation_url: ` + as.URL + `/revoke
    client_id: cli
    login: {flow: device, device_url: ` + as.URL + `/device, scopes: [offline_access]}
    store: ` + store(t, dir) + `
`
	e := startAgent(t, dir, nil, config, Options{})
	api := unixClient(filepath.Join(dir, "api.sock"))
	code, h, body := get(t, api, "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"})
	er := decode[ErrorResponse](t, body)
	hint := "run authfsm login --profile api --config " + filepath.Join(dir, "agent.yaml")
	if code != http.StatusServiceUnavailable || er.State != "needs_login" || !strings.Contains(er.Error, "login required") ||
		!strings.Contains(er.Error, hint) || h.Get("Retry-After") != "" {
		t.Fatalf("/v1/token before the login: %d %+v Retry-After %q", code, er, h.Get("Retry-After"))
	}
	cfg, err := Load(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var shown oauth.DeviceCode
	ctx := context.Background()
	st, err := Login(ctx, cfg, "api", LoginOptions{Prompt: func(d oauth.DeviceCode) error { shown = d; return nil }})
	if err != nil || st.Generation != 1 || st.Store != cfg.Profiles[0].Store.String() || shown.UserCode != "ABCD-EFGH" {
		t.Fatalf("Login = %+v, %v (shown %+v)", st, err, shown)
	}
	tok, err := e.a.Session("api").Token(session.ContextWithWait(ctx, true))
	if err != nil || tok.Access != "login-1" {
		t.Fatalf("the running agent after the login: %v, %v", tok, err)
	}
	if code, _, body := get(t, api, "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"}); code != http.StatusOK ||
		decode[TokenResponse](t, body).AccessToken != "login-1" {
		t.Fatalf("/v1/token after the login: %d %s", code, body)
	}

	st, err = Logout(ctx, cfg, "api", Options{})
	if err != nil || st.Generation != 2 {
		t.Fatalf("Logout = %+v, %v", st, err)
	}
	as.mu.Lock()
	revoked := strings.Join(as.revoked, ", ")
	as.mu.Unlock()
	if revoked != "refresh_token refresh-1, access_token login-1" {
		t.Errorf("revoked %s", revoked)
	}
	if pair, err := cfg.Profiles[0].storedPair(ctx, e.a.redis["api"]); err != nil || pair.Access != "" || pair.Refresh != "" {
		t.Errorf("the store after the logout: %v, %v", pair, err)
	}
	waitFor(t, func() bool { return e.a.Session("api").Status().State == states.NeedsLogin })
	if code, _, body := get(t, api, "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"}); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, states.LoggedOutCause) {
		t.Fatalf("/v1/token after the logout: %d %s", code, body)
	}
	if _, err := Login(ctx, cfg, "nope", LoginOptions{}); !errors.As(err, new(*ConfigError)) {
		t.Errorf("Login of an unknown profile: %v, want a *ConfigError", err)
	}
}

// TestCheckAcceptsALoginProfile: --check accepts a refresh_token profile
// whose store holds no pair when its login block logs it in, and refuses
// one that has neither a seed nor a login block.
func TestCheckAcceptsALoginProfile(t *testing.T) {
	dir := t.TempDir()
	base := "listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: cli\n    store: {path: " +
		filepath.Join(dir, "api.json") + "}\n"
	for _, tc := range []struct {
		name, extra, err string
	}{
		{"login", "    login: {flow: device}\n", ""},
		{"neither", "", "neither refresh_token_file nor refresh_token_env seeds it, nor a login block logs it in"},
	} {
		cfg, err := Parse(filepath.Join(dir, "agent.yaml"), []byte(base+tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		err = Check(context.Background(), cfg, Options{})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.err)
		}
	}
}
