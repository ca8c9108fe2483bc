package agent

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestWaitForRefreshRunsOut: a refresh slower than wait_for_refresh makes
// /v1/token answer 503 saying that the agent's wait ran out, not the
// caller's context.
func TestWaitForRefreshRunsOut(t *testing.T) {
	release := make(chan struct{})
	ts := newTokenServer(t, func(n int, w http.ResponseWriter) {
		<-release
		issue(n, w)
	})
	defer close(release)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
    session: {wait_for_refresh: 50ms}
`, Options{})
	code, h, body := get(t, unixClient(filepath.Join(dir, "api.sock")), "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"})
	er := decode[ErrorResponse](t, body)
	if code != http.StatusServiceUnavailable || er.Error != "agent: no usable token within wait_for_refresh (50ms): the refresh under way has not ended" ||
		er.State != "refreshing" || h.Get("Retry-After") != "1" {
		t.Errorf("%d %+v Retry-After %q; want 503 saying wait_for_refresh ran out, state refreshing, Retry-After 1", code, er, h.Get("Retry-After"))
	}
	if strings.Contains(body, "caller") {
		t.Errorf("the answer blames the caller: %s", body)
	}
}
