package agent

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelayedRequestsRefused: a request that a relay forwarded (it carries
// Forwarded, X-Forwarded-For, X-Forwarded-Host, X-Real-IP or Via) is
// refused by the proxy as by /v1/token, even with a loopback Host (what
// nginx sends for `proxy_pass http://127.0.0.1:PORT`): 403, nothing reaches
// the upstream, no token is attached, and the refusal is counted.
func TestRelayedRequestsRefused(t *testing.T) {
	ts := newTokenServer(t, issue)
	up := newUpstream(t, false)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	secret := filepath.Join(dir, "secret")
	e := startAgent(t, dir, ts, `listen: 127.0.0.1:0
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+secret+`
    grant: client_credentials
    proxy:
      listen: 127.0.0.1:0
      upstream: `+up.URL+`
`, Options{})
	api := "http://" + e.a.Addr("").String()
	proxy := "http://" + e.a.Addr("api").String()
	relays := []struct{ header, value string }{
		{"Forwarded", "for=192.0.2.7;proto=https"},
		{"X-Forwarded-For", "192.0.2.7"},
		{"X-Forwarded-Host", "api.example"},
		{"X-Real-IP", "192.0.2.7"},
		{"Via", "1.1 nginx"},
	}
	for _, rl := range relays {
		for _, where := range []struct{ name, url string }{
			{"proxy", proxy + "/v1/items"},
			{"token", api + "/v1/token?profile=api"},
		} {
			t.Run(where.name+" "+rl.header, func(t *testing.T) {
				// The Host a relay rewrites to its loopback upstream passes
				// the Host check; the relay's header does not.
				host := strings.TrimPrefix(where.url, "http://")
				host, _, _ = strings.Cut(host, "/")
				code, _, body := get(t, http.DefaultClient, where.url, map[string]string{
					TokenRequestHeader: "1", rl.header: rl.value, "Host": host,
				})
				if code != http.StatusForbidden || !strings.Contains(body, "relayed by a proxy") || !strings.Contains(body, rl.header) {
					t.Errorf("%d %s; want 403 saying the request was relayed (%s)", code, body, rl.header)
				}
				if strings.Contains(body, "access-") {
					t.Errorf("the refusal carries a token: %s", body)
				}
			})
		}
	}
	if got := up.requests(); len(got) != 0 {
		t.Errorf("the upstream saw %q; want nothing", got)
	}
	// Unrelayed, the proxy forwards with the token.
	if code, _, body := get(t, http.DefaultClient, proxy+"/v1/items", nil); code != 200 || body != "hello Bearer access-1" {
		t.Errorf("a local request: %d %s", code, body)
	}
	_, _, m := get(t, http.DefaultClient, api+"/metrics", nil)
	for _, want := range []string{
		`authfsm_agent_proxy_requests_total{profile="api",result="refused"} 5`,
		`authfsm_agent_token_requests_total{profile="api",result="refused"} 5`,
		`authfsm_agent_proxy_requests_total{profile="api",result="forwarded"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}
