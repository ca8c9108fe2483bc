package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
)

// TestAgentBehindRelay puts a real nginx in front of `authfsm agent`, as a
// reverse proxy is commonly configured: `proxy_pass http://127.0.0.1:PORT`
// (nginx then sends Host: 127.0.0.1:PORT, which passes the agent's Host
// check) and one header naming the client. Whatever the header, the agent
// refuses the relayed request — to its proxy and to /v1/token — with 403,
// attaching no token and forwarding nothing; the same requests made on the
// host are served.
func TestAgentBehindRelay(t *testing.T) {
	curl := needTool(t, "curl")
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 30 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: refreshAhead, requestTimeout: requestTimeout,
	})
	ctx := t.Context()
	// On the host: served.
	if status, body := curlGet(ctx, curl, "http://"+a.proxyAddr+tokenserver.ResourcePath); status != 200 {
		t.Fatalf("the resource through the agent's proxy: %d %s", status, body)
	}
	if status, body := curlGet(ctx, curl, "http://localhost/v1/token?profile=api", "--unix-socket", a.apiSock, "-H", "Authfsm-Token-Request: 1"); status != 200 {
		t.Fatalf("/v1/token: %d %s", status, body)
	}
	before := e.srv.Counts()
	relays := []struct{ header, value string }{
		{"X-Forwarded-For", "$proxy_add_x_forwarded_for"},
		{"X-Real-IP", "$remote_addr"},
		{"Forwarded", "for=$remote_addr;proto=$scheme"},
		{"X-Forwarded-Host", "$host"},
		{"Via", "1.1 relay"},
	}
	for _, rl := range relays {
		t.Run(rl.header, func(t *testing.T) {
			headers := map[string]string{rl.header: rl.value}
			proxyRelay := nginx.Start(t, nginx.Config{Backend: a.proxyAddr, ProxySetHeaders: headers})
			status, body := curlGet(ctx, curl, proxyRelay.URL()+tokenserver.ResourcePath)
			if status != 403 || !strings.Contains(body, "relayed by a proxy") || !strings.Contains(body, rl.header) {
				t.Errorf("the resource through nginx and the agent's proxy: %d %s; want the agent's 403 naming %s", status, body, rl.header)
			}
			// The API on its unix socket, relayed (nginx sends Host: localhost).
			apiRelay := nginx.Start(t, nginx.Config{Backend: "unix:" + a.apiSock + ":", ProxySetHeaders: headers})
			status, body = curlGet(ctx, curl, apiRelay.URL()+"/v1/token?profile=api", "-H", "Authfsm-Token-Request: 1")
			if status != 403 || !strings.Contains(body, "relayed by a proxy") || strings.Contains(body, "access_token") {
				t.Errorf("/v1/token through nginx: %d %s; want the agent's 403 and no token", status, body)
			}
			// nginx's log: the agent answered, with its 403.
			for _, px := range []*nginx.Proxy{proxyRelay, apiRelay} {
				entries, err := px.AccessLog()
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 1 || entries[0].Upstream != "403" {
					t.Errorf("nginx's access log %+v; want one request answered 403 by the agent", entries)
				}
			}
		})
	}
	// Nothing reached the resource server or the token endpoint meanwhile.
	if after := e.srv.Counts(); after.ResourceOK != before.ResourceOK || after.ResourceRejected != before.ResourceRejected || after.TokenRequests != before.TokenRequests {
		t.Errorf("the relayed requests reached the servers: resource %d→%d ok, %d→%d refused; token requests %d→%d",
			before.ResourceOK, after.ResourceOK, before.ResourceRejected, after.ResourceRejected, before.TokenRequests, after.TokenRequests)
	}
	_, metrics := curlGet(ctx, curl, "http://localhost/metrics", "--unix-socket", a.apiSock)
	for _, want := range []string{
		`authfsm_agent_proxy_requests_total{profile="api",result="refused"} 5`,
		`authfsm_agent_token_requests_total{profile="api",result="refused"} 5`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the agent's metrics lack %s", want)
		}
	}
}
