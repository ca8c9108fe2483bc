package agent

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestAnswersGit(t *testing.T) {
	c, err := Parse("/etc/authfsm/agent.yaml", []byte(`listen: 127.0.0.1:8180
profiles:
  git:
    token_url: https://auth.example/token
    client_id: c
    client_secret_env: S
    grant: client_credentials
    git: {hosts: [git.example.com, "127.0.0.1:3000", "[::1]:3001", localhost, "GitLab.Example.:8443"]}
    proxy: {listen: 127.0.0.1:0, upstream: "https://api.example:9443/v2"}
  bare:
    token_url: https://auth.example/token
    client_id: c
    client_secret_env: S
    grant: client_credentials
`))
	if err != nil {
		t.Fatal(err)
	}
	g, bare := c.Profiles[0], c.Profiles[1]
	if got := strings.Join(g.GitHosts(), " "); got != "git.example.com 127.0.0.1:3000 [::1]:3001 localhost GitLab.Example.:8443 api.example:9443" {
		t.Errorf("GitHosts = %s", got)
	}
	for _, tc := range []struct {
		protocol, host string
		want           bool
	}{
		{"https", "git.example.com", true},
		{"https", "GIT.example.com", true},
		{"https", "git.example.com:443", true},
		{"https", "git.example.com.", true},
		{"http", "git.example.com", false}, // in clear across the network
		{"http", "git.example.com:80", false},
		{"ssh", "git.example.com", false},
		{"", "git.example.com", false},
		{"https", "git.example.com:8443", false},
		{"https", "evil.example.com", false},
		{"https", "git.example.com.evil.example", false},
		{"https", "", false},
		{"https", "user@git.example.com", false},
		{"https", "git.example.com/path", false},
		{"http", "127.0.0.1:3000", true}, // loopback: http is fine
		{"https", "127.0.0.1:3000", true},
		{"http", "127.0.0.1:3001", false},
		{"http", "127.0.0.1", false},
		{"http", "[::1]:3001", true},
		{"http", "localhost", true},
		{"http", "localhost:80", true},
		{"https", "gitlab.example:8443", true},
		{"https", "api.example:9443", true}, // the proxy's upstream
		{"https", "api.example", false},
	} {
		if got := g.AnswersGit(tc.protocol, tc.host); got != tc.want {
			t.Errorf("AnswersGit(%q, %q) = %t, want %t", tc.protocol, tc.host, got, tc.want)
		}
		if bare.AnswersGit(tc.protocol, tc.host) {
			t.Errorf("a profile naming no host answers git for %s://%s", tc.protocol, tc.host)
		}
	}
}

func TestGitConfigErrors(t *testing.T) {
	const head = "listen: 127.0.0.1:8180\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: c\n    client_secret_env: S\n    grant: client_credentials\n"
	for _, tc := range []struct{ name, src, err string }{
		{"no hosts", head + "    git: {}\n", "agent.yaml:8: profiles.api.git.hosts: required"},
		{"a URL", head + "    git: {hosts: [\"https://git.example.com\"]}\n", "profiles.api.git.hosts[0]: want a host as git names it, NAME or NAME:PORT, without a scheme or a path"},
		{"a path", head + "    git: {hosts: [git.example.com, git.example.com/group]}\n", "profiles.api.git.hosts[1]: want a host"},
		{"a bad port", head + "    git: {hosts: [\"git.example.com:https\"]}\n", "profiles.api.git.hosts[0]: want a host"},
		{"user information", head + "    git: {hosts: [\"hunter2@git.example.com\"]}\n", "profiles.api.git.hosts[0]: want a host"},
		{"unknown key", head + "    git: {host: git.example.com}\n", "profiles.api.git.host: unknown key (known: hosts)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the value: %v", err)
			}
		})
	}
}

// TestGitScope: /v1/token asked on behalf of git (protocol and host, as the
// credential helper sends them) answers only for the profile's hosts.
func TestGitScope(t *testing.T) {
	ts := newTokenServer(t, issue)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	secret := filepath.Join(dir, "secret")
	startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  git:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+secret+`
    grant: client_credentials
    git: {hosts: [git.example.com, "127.0.0.1:3000"]}
  plain:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+secret+`
    grant: client_credentials
`, Options{})
	c := unixClient(filepath.Join(dir, "api.sock"))
	hdr := map[string]string{TokenRequestHeader: "1"}
	for _, tc := range []struct {
		query  string
		status int
		body   string
	}{
		{"profile=git&protocol=https&host=git.example.com", 200, `"access_token":"access-`},
		{"profile=git&protocol=http&host=127.0.0.1:3000", 200, `"access_token":"access-`},
		{"profile=git&protocol=http&host=git.example.com", 403, "profile git does not answer git for http://git.example.com: plain http is answered for a loopback host only"},
		{"profile=git&protocol=https&host=github.com", 403, "does not answer git for https://github.com: it answers for git.example.com, 127.0.0.1:3000"},
		{"profile=git&host=git.example.com", 403, "git's protocol must be https"},
		{"profile=git&protocol=https", 403, "does not answer git for https://"},
		{"profile=plain&protocol=https&host=git.example.com", 403, "profile plain does not answer git for https://git.example.com: it names no git host (give it git: {hosts: [HOST]})"},
		{"profile=plain", 200, `"access_token":"access-`}, // not git's: as before
	} {
		code, _, body := get(t, c, "http://localhost/v1/token?"+tc.query, hdr)
		if code != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %s\nwant %d and %q", tc.query, code, body, tc.status, tc.body)
		}
		if code != 200 && strings.Contains(body, "access-") {
			t.Errorf("%s: the refusal carries a token: %s", tc.query, body)
		}
	}
	_, _, m := get(t, c, "http://localhost/metrics", nil)
	if !strings.Contains(m, `authfsm_agent_token_requests_total{profile="git",result="refused"} 4`) {
		t.Errorf("the refusals are not counted:\n%s", m)
	}
}

// TestRejectEndpoint: POST /v1/token/reject of the token served makes the
// agent refresh it, as a 401 through the proxy does; an older token changes
// nothing; a refresh's token refused at once waits for the retry policy.
func TestRejectEndpoint(t *testing.T) {
	ts := newTokenServer(t, issue)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
    session: {policy: {kind: constant, initial: 1h, jitter: none}}
`, Options{})
	c := &Client{Listen: Listen{Network: "unix", Address: filepath.Join(dir, "api.sock")}}
	ctx := t.Context()
	tok, err := c.Token(ctx, "")
	if err != nil || tok.AccessToken != "access-1" {
		t.Fatalf("%+v, %v", tok, err)
	}
	// A token that is not the current one: nothing happens.
	if rejected, err := c.Reject(ctx, "", "access-0"); err != nil || rejected {
		t.Errorf("rejecting an older token: %t, %v; want false", rejected, err)
	}
	if tok, err := c.Token(ctx, ""); err != nil || tok.AccessToken != "access-1" || ts.requests() != 1 {
		t.Errorf("after rejecting an older token: %+v, %v, %d token requests; want access-1, 1", tok, err, ts.requests())
	}
	// The current one: refreshed.
	if rejected, err := c.Reject(ctx, "", "access-1"); err != nil || !rejected {
		t.Errorf("rejecting the current token: %t, %v; want true", rejected, err)
	}
	if tok, err := c.Token(ctx, ""); err != nil || tok.AccessToken != "access-2" {
		t.Errorf("after the rejection: %+v, %v; want access-2", tok, err)
	}
	// The refresh's token refused at once: paced by the policy (1h), not
	// fetched again at once.
	if rejected, err := c.Reject(ctx, "", "access-2"); err != nil || !rejected {
		t.Errorf("rejecting the refreshed token: %t, %v; want true", rejected, err)
	}
	_, err = c.Token(ctx, "")
	if ue, ok := err.(*UnavailableError); !ok || ue.Status != 503 || ue.RetryAfter < 59*60e9 {
		t.Errorf("after the second rejection: %v; want 503 with Retry-After about an hour", err)
	}
	if n := ts.requests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	// The guards of /v1/token.
	sock := unixClient(filepath.Join(dir, "api.sock"))
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		want    string
	}{
		{"without the header", nil, `{"access_token":"access-2"}`, 403, "needs the header"},
		{"relayed", map[string]string{TokenRequestHeader: "1", "X-Forwarded-For": "192.0.2.1"}, `{"access_token":"access-2"}`, 403, "relayed by a proxy"},
		{"from a browser", map[string]string{TokenRequestHeader: "1", "Origin": "https://evil.example"}, `{"access_token":"access-2"}`, 403, "browser"},
		{"not JSON", map[string]string{TokenRequestHeader: "1"}, `access-2`, 400, "want a JSON body"},
		{"no token", map[string]string{TokenRequestHeader: "1"}, `{}`, 400, "want a JSON body"},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://localhost/v1/token/reject", strings.NewReader(tc.body))
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := sock.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, resp.StatusCode, b, tc.status, tc.want)
		}
	}
	_, _, m := get(t, sock, "http://localhost/metrics", nil)
	for _, want := range []string{`authfsm_agent_token_rejections_total{profile="api",result="current"} 2`, `authfsm_agent_token_rejections_total{profile="api",result="stale"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
