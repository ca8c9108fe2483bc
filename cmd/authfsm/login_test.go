package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoginCommand runs authfsm login and logout against a device flow's
// server: the code goes to the terminal (stderr), the pair to the store,
// a line saying so to stdout; logout revokes the pair and empties the
// store. A profile without a login block, or unknown, is bad input.
func TestLoginCommand(t *testing.T) {
	var mu sync.Mutex
	var revoked []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/device":
			fmt.Fprintf(w, `{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri_complete":"%s/verify?user_code=WDJB-MJHT","verification_uri":"%s/verify","interval":1}`, srv.URL, srv.URL)
		case "/token":
			fmt.Fprint(w, `{"access_token":"login-access","refresh_token":"login-refresh","token_type":"Bearer","expires_in":3600}`)
		case "/revoke":
			mu.Lock()
			revoked = append(revoked, r.PostForm.Get("token_type_hint"))
			mu.Unlock()
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(`listen: 127.0.0.1:8180
profiles:
  cli:
    token_url: `+srv.URL+`/token
    revocation_url: `+srv.URL+`/revoke
    client_id: my-cli
    login: {flow: device, device_url: `+srv.URL+`/device}
    store: {path: cli.json}
  other:
    token_url: `+srv.URL+`/token
    refresh_token_env: RT
    store: {path: other.json}
`), 0o600)

	code, out, errOut := runCLI("login", "--profile", "cli", "--config", cfg)
	if code != exitOK || !strings.HasPrefix(out, "logged in: profile cli, token sha256:") || !strings.Contains(out, "(generation 1)") ||
		!strings.Contains(errOut, srv.URL+"/verify?user_code=WDJB-MJHT") || !strings.Contains(errOut, "WDJB-MJHT") {
		t.Fatalf("login: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cli.json")); !strings.Contains(string(b), "login-refresh") {
		t.Fatalf("the store after the login: %s", b)
	}
	if strings.Contains(out+errOut, "login-access") || strings.Contains(out+errOut, "login-refresh") {
		t.Errorf("a token on the terminal: %s %s", out, errOut)
	}
	code, out, errOut = runCLI("logout", "--profile", "cli", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "logged out: profile cli") {
		t.Fatalf("logout: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	mu.Lock()
	if strings.Join(revoked, ",") != "refresh_token,access_token" {
		t.Errorf("revoked %v", revoked)
	}
	mu.Unlock()
	if b, _ := os.ReadFile(filepath.Join(dir, "cli.json")); strings.Contains(string(b), "login-") {
		t.Fatalf("the store after the logout: %s", b)
	}
	for _, args := range [][]string{
		{"login", "--profile", "other", "--config", cfg},
		{"login", "--profile", "nope", "--config", cfg},
		{"login", "--config", cfg}, // two profiles: name one
		{"logout", "--config", filepath.Join(dir, "none.yaml")},
	} {
		if code, _, errOut := runCLI(args...); code != exitBadInput || !strings.HasPrefix(errOut, "authfsm "+args[0]+": ") {
			t.Errorf("%v: exit %d, stderr %q; want 2", args, code, errOut)
		}
	}
}
