package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverLeak runs an agent whose token endpoints echo the
// client's credentials into their error pages, and checks that neither
// those nor the tokens reach its log, its audit log, its health, metrics
// or error answers: only /v1/token's answer carries the access token.
func TestSecretsNeverLeak(t *testing.T) {
	const clientSecret = "cl13nt-S3CRET-77aa"
	cred := basic("cli", clientSecret)
	echo := func(w http.ResponseWriter) {
		w.Header().Set("WWW-Authenticate", "Basic realm="+clientSecret)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>bad gateway; you sent client_secret=%s, Basic %s</html>", clientSecret, cred)
	}
	flaky := newTokenServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			echo(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"acc-T0PSECRET-%d","refresh_token":"ref-T0PSECRET-%d","expires_in":3600,"error_description":"%s"}`, n, n, clientSecret)
	})
	down := newTokenServer(t, func(_ int, w http.ResponseWriter) { echo(w) })
	dir := shortDir(t)
	writeSecret(t, dir, clientSecret)
	os.WriteFile(filepath.Join(dir, "audit.key"), []byte("k"), 0o600)
	profile := func(name, url, session string) string {
		return fmt.Sprintf(`  %s:
    token_url: %s
    client_id: cli
    client_secret_file: secret
    grant: client_credentials
    session: %s
`, name, url, session)
	}
	e := startAgent(t, dir, flaky, "listen: unix:{{dir}}/api.sock\naudit: {path: audit.jsonl, key_file: audit.key}\nprofiles:\n"+
		profile("flaky", "{{token_url}}", "{wait_for_refresh: 10s, policy: {kind: constant, initial: 10ms, jitter: none}}")+
		profile("down", down.URL, "{policy: {kind: constant, initial: 1h, jitter: none}}"), Options{})
	c := unixClient(filepath.Join(dir, "api.sock"))
	hdr := map[string]string{TokenRequestHeader: "1"}
	var seen []string // every answer but the token's
	code, _, body := get(t, c, "http://localhost/v1/token?profile=flaky", hdr)
	if code != 200 || decode[TokenResponse](t, body).AccessToken != "acc-T0PSECRET-2" {
		t.Fatalf("%d %s", code, body)
	}
	code, _, body = get(t, c, "http://localhost/v1/token?profile=down", hdr)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "502 Bad Gateway") {
		t.Errorf("down: %d %s", code, body)
	}
	seen = append(seen, body)
	for _, path := range []string{"/v1/health?profile=flaky", "/v1/health?profile=down", "/v1/health", "/metrics"} {
		_, _, body := get(t, c, "http://localhost"+path, nil)
		seen = append(seen, body)
	}
	if err := e.a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	auditLog, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if !strings.Contains(e.log.String(), "502 Bad Gateway") || len(auditLog) == 0 {
		t.Fatalf("the failures were not logged:\n%s", e.log)
	}
	seen = append(seen, e.log.String(), string(auditLog))
	for _, s := range seen {
		for _, bad := range []string{clientSecret, cred, "T0PSECRET"} {
			if strings.Contains(s, bad) {
				t.Errorf("%q leaked into:\n%s", bad, s)
			}
		}
	}
}
