package agent

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/internal/redistest"
)

// TestRedisStoreSharedFamily: two agents — two hosts, say — share a
// profile's token family through a real redis-server (with a password):
// the first seeds it from its refresh_token_file and obtains the first
// pair; the second, which has no seed, adopts that pair without a token
// request; at the refresh point one of them refreshes and the other adopts
// the new pair, so every refresh token is presented once and both serve
// the same token. Skipped without redis-server unless
// AUTHFSM_REQUIRE_REDIS=1.
func TestRedisStoreSharedFamily(t *testing.T) {
	const password = "redis-pw-Zq9"
	srv := redistest.Start(t, "--requirepass", password)
	ts := newTokenServer(t, func(n int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-%d","refresh_token":"refresh-%d","token_type":"Bearer","expires_in":4}`, n, n)
	})
	config := func(dir string, seed bool) string {
		writeSecret(t, dir, "s3cr3t")
		if err := os.WriteFile(filepath.Join(dir, "redis-pw"), []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: secret
    session: {refresh_ahead: 2s, request_timeout: 2s, wait_for_refresh: 5s}
    store:
      redis: {addr: "` + srv.Addr + `", key: "authfsm:test:{shared}", db: 1, password_file: redis-pw}
`
		if seed {
			if err := os.WriteFile(filepath.Join(dir, "seed"), []byte("refresh-0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c += "    refresh_token_file: seed\n"
		}
		return c
	}
	token := func(e *env) TokenResponse {
		t.Helper()
		code, _, body := get(t, unixClient(filepath.Join(e.dir, "api.sock")), "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"})
		if code != http.StatusOK {
			t.Fatalf("/v1/token: %d %s", code, body)
		}
		return decode[TokenResponse](t, body)
	}
	dirA := shortDir(t)
	a := startAgent(t, dirA, ts, config(dirA, true), Options{})
	if tok := token(a); tok.AccessToken != "access-1" {
		t.Fatalf("the first agent serves %s, want access-1", tok.AccessToken)
	}
	// The pair is installed, then published: a process serves it as soon
	// as it has it, and the family has it once the publish is answered.
	waitFor(t, func() bool { return a.a.Session("api").Status().Generation == 1 })
	dirB := shortDir(t)
	b := startAgent(t, dirB, ts, config(dirB, false), Options{})
	if tok := token(b); tok.AccessToken != "access-1" || ts.requests() != 1 {
		t.Fatalf("the second agent serves %s after %d token requests; want the first's access-1, adopted", tok.AccessToken, ts.requests())
	}

	// The refresh point (2 s before the expiry) comes for both.
	waitFor(t, func() bool {
		return a.a.Session("api").Status().Generation == 2 && b.a.Session("api").Status().Generation == 2
	})
	ta, tb := token(a), token(b)
	if ta.AccessToken != "access-2" || tb.AccessToken != "access-2" {
		t.Errorf("after the refresh: %s and %s; want both access-2", ta.AccessToken, tb.AccessToken)
	}
	var presented []string
	for i := range ts.requests() {
		presented = append(presented, ts.form(i).Get("refresh_token"))
	}
	if strings.Join(presented, ",") != "refresh-0,refresh-1" {
		t.Errorf("refresh tokens presented: %v; want refresh-0 then refresh-1, each once", presented)
	}
	for _, e := range []*env{a, b} {
		if strings.Contains(e.log.String(), password) {
			t.Error("the Redis password is in an agent's log")
		}
	}
}
