package agent

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClient(t *testing.T) {
	ts := newTokenServer(t, issue)
	down := newTokenServer(t, status(http.StatusServiceUnavailable))
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	cc := func(name, url string) string {
		return "  " + name + ":\n    token_url: " + url + "\n    client_id: cli\n    client_secret_file: secret\n    grant: client_credentials\n" +
			"    session: {policy: {kind: constant, initial: 1m, jitter: none}}\n"
	}
	e := startAgent(t, dir, ts, "listen: unix:{{dir}}/api.sock\nprofiles:\n"+cc("api", "{{token_url}}")+cc("down", down.URL), Options{})
	tcp := startAgent(t, shortDir(t), ts, "listen: 127.0.0.1:0\nprofiles:\n"+strings.ReplaceAll(cc("api", "{{token_url}}"), "secret\n", filepath.Join(dir, "secret")+"\n"), Options{})
	for _, tc := range []struct {
		name    string
		listen  Listen
		profile string
		status  int // of the *UnavailableError; 0 for a token
		err     string
	}{
		{"unix", Listen{"unix", filepath.Join(e.dir, "api.sock")}, "api", 0, ""},
		{"tcp, the only profile", Listen{"tcp", tcp.a.Addr("").String()}, "", 0, ""},
		{"no token", Listen{"unix", filepath.Join(e.dir, "api.sock")}, "down", 503, "agent answered 503 Service Unavailable: session: token refresh failed: 503 Service Unavailable"},
		{"no profile named", Listen{"unix", filepath.Join(e.dir, "api.sock")}, "", 400, "name a profile"},
		{"no agent", Listen{"unix", filepath.Join(e.dir, "none.sock")}, "", 0, "cannot reach the agent at unix:" + e.dir + "/none.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := (&Client{Listen: tc.listen, Timeout: 5 * time.Second}).Token(context.Background(), tc.profile)
			if tc.err == "" {
				if err != nil || !strings.HasPrefix(tok.AccessToken, "access-") || tok.TokenType != "Bearer" {
					t.Fatalf("%+v, %v", tok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			var ue *UnavailableError
			if errors.As(err, &ue) != (tc.status != 0) || ue != nil && ue.Status != tc.status {
				t.Fatalf("error %#v, want status %d", err, tc.status)
			}
			if tc.status == 503 && (ue.RetryAfter < 50*time.Second || ue.State != "backoff") {
				t.Errorf("Retry-After %v, state %q", ue.RetryAfter, ue.State)
			}
		})
	}
}
