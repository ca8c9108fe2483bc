package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session"
)

// ccProfile is a client_credentials profile with its secret in a file,
// its proxy and the API on unix sockets.
const ccProfile = `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: secret
    grant: client_credentials
    session: {policy: {kind: constant, initial: 1h, jitter: none}}
    proxy:
      listen: unix:{{dir}}/api-proxy.sock
      upstream: UPSTREAM/base
      max_replay_body: 1024
`

// writeSecret writes the client secret file the profiles above name.
func writeSecret(t *testing.T, dir, secret string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// upstream is an API that records what reached it and answers 401 to
// access-1 when told to.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []string // Authorization, path?query, body
	reject bool
}

func newUpstream(t *testing.T, reject bool) *upstream {
	u := &upstream{reject: reject}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		u.mu.Lock()
		u.seen = append(u.seen, auth+" "+r.URL.RequestURI()+" "+string(body))
		u.mu.Unlock()
		if u.reject && auth == "Bearer access-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "hello "+auth)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// startCC starts ccProfile against ts and an upstream.
func startCC(t *testing.T, ts *tokenServer, up *upstream, extra string) *env {
	t.Helper()
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	cfg := strings.Replace(ccProfile, "UPSTREAM", up.URL, 1) + extra
	cfg = strings.ReplaceAll(cfg, "{{dir}}", dir)
	cfg = strings.ReplaceAll(cfg, "client_secret_file: secret", "client_secret_file: "+filepath.Join(dir, "secret"))
	return startAgent(t, dir, ts, cfg, Options{})
}

func TestProxyInjectsTokenAndReplaysOnce(t *testing.T) {
	big := strings.Repeat("x", 2048)
	for _, tc := range []struct {
		name     string
		method   string
		body     string
		reject   bool
		status   int
		upstream []string // what reached the upstream, in order
		tokens   int      // token requests
	}{
		{"GET, no 401", http.MethodGet, "", false, 200,
			[]string{"Bearer access-1 /base/v1/items?q=1 "}, 1},
		{"GET replayed after a 401", http.MethodGet, "", true, 200,
			[]string{"Bearer access-1 /base/v1/items?q=1 ", "Bearer access-2 /base/v1/items?q=1 "}, 2},
		{"POST body replayed after a 401", http.MethodPost, "payload", true, 200,
			[]string{"Bearer access-1 /base/v1/items?q=1 payload", "Bearer access-2 /base/v1/items?q=1 payload"}, 2},
		{"body over max_replay_body: no replay, the 401 passes", http.MethodPost, big, true, 401,
			[]string{"Bearer access-1 /base/v1/items?q=1 " + big}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, issue)
			up := newUpstream(t, tc.reject)
			e := startCC(t, ts, up, "")
			c := unixClient(filepath.Join(e.dir, "api-proxy.sock"))
			req, _ := http.NewRequest(tc.method, "http://localhost/v1/items?q=1", strings.NewReader(tc.body))
			if tc.body == "" {
				req.Body = nil
			}
			req.Header.Set("Authorization", "Bearer the-client-own") // replaced, never forwarded
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			got := up.requests()
			if strings.Join(got, "\n") != strings.Join(tc.upstream, "\n") {
				t.Errorf("the upstream saw\n%q\nwant\n%q", got, tc.upstream)
			}
			// The rejection starts a refresh even when the request cannot be
			// replayed; wait for it to end.
			deadline := time.Now().Add(5 * time.Second)
			for ts.requests() < tc.tokens && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := ts.requests(); n != tc.tokens {
				t.Errorf("%d token requests, want %d", n, tc.tokens)
			}
			if f := ts.form(0); f.Get("grant_type") != "client_credentials" || ts.auths[0] == "" {
				t.Errorf("token request %v, Authorization %q: want client_credentials with Basic authentication", f, ts.auths[0])
			}
		})
	}
}

// TestProxyPassesARefusedReplay: an upstream that refuses every token of
// the client (a missing scope) has its 401 to the replayed request, body and
// challenge, reach the client, as session.Transport returns it; it was a 503
// while the Transport returned a *session.RejectedError instead.
func TestProxyPassesARefusedReplay(t *testing.T) {
	ts := newTokenServer(t, issue)
	up := &upstream{}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		up.seen = append(up.seen, r.Header.Get("Authorization"))
		up.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="items:write"`)
		http.Error(w, `{"error":"insufficient_scope"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(up.Close)
	e := startCC(t, ts, up, "")
	c := unixClient(filepath.Join(e.dir, "api-proxy.sock"))
	resp, err := c.Get("http://localhost/v1/items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "insufficient_scope") ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "items:write") {
		t.Errorf("answer %d %q (WWW-Authenticate %q), want the upstream's 401", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	if got := up.requests(); strings.Join(got, ",") != "Bearer access-1,Bearer access-2" {
		t.Errorf("the upstream saw %q, want the request and its replay", got)
	}
}

func TestTokenEndpointGuards(t *testing.T) {
	ts := newTokenServer(t, issue)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	e := startAgent(t, dir, ts, `listen: 127.0.0.1:0
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
  other:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
`, Options{})
	base := "http://" + e.a.Addr("").String()
	ok := map[string]string{TokenRequestHeader: "1"}
	with := func(k, v string) map[string]string { return map[string]string{TokenRequestHeader: "1", k: v} }
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
		status  int
		body    string // a substring
	}{
		{"served", "/v1/token?profile=api", ok, 200, `"token_type":"Bearer"`},
		{"without the header", "/v1/token?profile=api", nil, 403, "needs the header Authfsm-Token-Request: 1"},
		{"with another value", "/v1/token?profile=api", map[string]string{TokenRequestHeader: "true"}, 403, "needs the header"},
		{"with an Origin", "/v1/token?profile=api", with("Origin", "https://evil.example"), 403, "made by a browser"},
		{"with Sec-Fetch-Site", "/v1/token?profile=api", with("Sec-Fetch-Site", "same-origin"), 403, "made by a browser"},
		{"relayed (X-Forwarded-For)", "/v1/token?profile=api", with("X-Forwarded-For", "10.0.0.1"), 403, "relayed by a proxy"},
		{"relayed (Forwarded)", "/v1/token?profile=api", with("Forwarded", "for=10.0.0.1"), 403, "relayed by a proxy"},
		{"DNS rebinding (Host)", "/v1/token?profile=api", with("Host", "evil.example:8180"), 403, "loopback"},
		{"Host localhost", "/v1/token?profile=api", with("Host", "localhost"), 200, "access_token"},
		{"no profile named", "/v1/token", ok, 400, "api, other"},
		{"unknown profile", "/v1/token?profile=nope", ok, 404, "no such profile"},
		{"served, other", "/v1/token?profile=other", ok, 200, `"access_token":"access-`},
		{"health of a profile", "/v1/health?profile=api", nil, 200, `"state":"valid"`},
		{"health of all", "/v1/health", nil, 200, `"other":{"state":"valid"`},
		{"health refuses browsers", "/healthz", map[string]string{"Origin": "https://evil.example"}, 403, "browser"},
		{"metrics", "/metrics", nil, 200, `authfsm_agent_token_requests_total{profile="api",result="refused"} 7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, http.DefaultClient, base+tc.path, tc.headers)
			if code != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("%d %s\nwant %d and %q", code, body, tc.status, tc.body)
			}
		})
	}
	// The token itself.
	_, h, body := get(t, http.DefaultClient, base+"/v1/token?profile=other", ok)
	tok := decode[TokenResponse](t, body)
	// expires_at is when the agent stops handing the token out: a
	// Handover before the refresh point (refresh_ahead, 5m by default,
	// before the token's own expiry).
	if !strings.HasPrefix(tok.AccessToken, "access-") || tok.State != "valid" || time.Until(tok.TokenExpiresAt) < 59*time.Minute ||
		!tok.ExpiresAt.Equal(tok.TokenExpiresAt.Add(-5*time.Minute-Handover)) {
		t.Errorf("token %+v; want expires_at 5m1s before token_expires_at, an hour away", tok)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	resp, err := http.Post(base+"/v1/token?profile=api", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestUnavailableWithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string // replaces the session block
		path  string
		sock  string
	}{
		{"token, fail fast", "", "/v1/token", "api.sock"},
		{"token, after wait_for_refresh", "wait_for_refresh: 100ms, ", "/v1/token", "api.sock"},
		{"proxy", "", "/v1/items", "api-proxy.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, status(http.StatusBadGateway))
			up := newUpstream(t, false)
			dir := shortDir(t)
			writeSecret(t, dir, "s3cr3t")
			cfg := strings.Replace(ccProfile, "UPSTREAM", up.URL, 1)
			cfg = strings.ReplaceAll(cfg, "{{dir}}", dir)
			cfg = strings.ReplaceAll(cfg, "client_secret_file: secret", "client_secret_file: "+filepath.Join(dir, "secret"))
			cfg = strings.Replace(cfg, "session: {", "session: {"+tc.extra, 1)
			e := startAgent(t, dir, ts, cfg, Options{})
			code, h, body := get(t, unixClient(filepath.Join(dir, tc.sock)), "http://localhost"+tc.path, map[string]string{TokenRequestHeader: "1"})
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d %s, want 503", code, body)
			}
			ra, err := strconv.Atoi(h.Get("Retry-After"))
			if err != nil || ra < 3500 || ra > 3600 {
				t.Errorf("Retry-After %q, want about an hour (the policy's next attempt)", h.Get("Retry-After"))
			}
			er := decode[ErrorResponse](t, body)
			if !strings.Contains(er.Error, "502 Bad Gateway") || er.State != "backoff" {
				t.Errorf("error %+v, want the refresh error's text and state backoff", er)
			}
			// The wait that ran out is the agent's, not the client's.
			if strings.Contains(er.Error, "caller's context") || strings.Contains(er.Error, "context deadline exceeded") ||
				tc.extra != "" && !strings.Contains(er.Error, "no usable token within wait_for_refresh (100ms); last refresh: ") {
				t.Errorf("error %q, want it to say that wait_for_refresh ran out", er.Error)
			}
			if len(up.requests()) != 0 {
				t.Errorf("the upstream was called without a token")
			}
			// The refresh worker hands the attempt's notes (the metrics'
			// hooks) to the outbox's goroutine, so that a slow sink never
			// holds a refresh: the counter may trail the state by a moment.
			var m string
			metricsShow := func() bool {
				_, _, m = get(t, unixClient(filepath.Join(dir, "api.sock")), "http://localhost/metrics", nil)
				return strings.Contains(m, `authfsm_refresh_attempts_total{profile="api",outcome="failure",class="transient"} 1`) &&
					strings.Contains(m, `authfsm_sessions{profile="api",state="backoff"} 1`)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !metricsShow() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polls; nothing is synchronised by it
			}
			if !metricsShow() {
				t.Errorf("metrics:\n%s", m)
			}
			_ = e
		})
	}
}

func TestSocketMode(t *testing.T) {
	ts := newTokenServer(t, issue)
	up := newUpstream(t, false)
	dir := shortDir(t)
	// A crashed agent's socket, which nothing answers on, is replaced.
	stale, err := net.Listen("unix", filepath.Join(dir, "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	writeSecret(t, dir, "s3cr3t")
	cfg := strings.Replace(ccProfile, "UPSTREAM", up.URL, 1)
	cfg = strings.ReplaceAll(cfg, "{{dir}}", dir)
	cfg = strings.ReplaceAll(cfg, "client_secret_file: secret", "client_secret_file: "+filepath.Join(dir, "secret"))
	e := startAgent(t, dir, ts, cfg, Options{})
	for _, name := range []string{"api.sock", "api-proxy.sock"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a socket with 0600", name, fi.Mode())
		}
	}
	// A second agent on the same sockets is refused; so is a path that is
	// not a socket.
	cfg2, err := Parse(filepath.Join(dir, "agent.yaml"), []byte(e.expand(ts, cfg)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg2, Options{}); err == nil || !strings.Contains(err.Error(), "another process listens on it") {
		t.Errorf("a second agent: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	cfg2.Listen = &Listen{Network: "unix", Address: plain}
	if _, err := New(context.Background(), cfg2, Options{}); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("a regular file: %v", err)
	}
	if err := e.a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api.sock", "api-proxy.sock"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left behind after shutdown: %v", name, err)
		}
	}
}

// TestShutdownSavesRotatedPair: a refresh in flight when the agent is told
// to stop finishes, and its rotated pair reaches the store; the audit log
// chains under its key.
func TestShutdownSavesRotatedPair(t *testing.T) {
	received, release := make(chan struct{}), make(chan struct{})
	ts := newTokenServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			close(received)
			<-release
		}
		issue(n, w)
	})
	dir := shortDir(t)
	store := filepath.Join(dir, "token.json")
	expired := session.Token{Access: "access-0", Refresh: "refresh-0", Expiry: time.Now().Add(-time.Minute)}
	if err := (&session.FileStore{Path: store}).Save(context.Background(), expired); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "audit.key"), []byte("k3y\n"), 0o600)
	e := startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
audit: {path: audit.jsonl, key_file: audit.key}
profiles:
  api:
    token_url: {{token_url}}
    store: {path: token.json}
`, Options{})
	<-received
	done := make(chan error, 1)
	go func() { done <- e.a.Shutdown(context.Background()) }()
	// The listeners close first; then the session waits for its refresh.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(filepath.Join(dir, "api.sock")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API socket is still there")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the refresh in flight ended", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ts.form(0).Get("refresh_token"); got != "refresh-0" {
		t.Errorf("refreshed with %q", got)
	}
	tok, err := (&session.FileStore{Path: store}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access != "access-1" || tok.Refresh != "refresh-1" {
		t.Errorf("the store holds %v, want the rotated pair access-1/refresh-1", tok)
	}
	f, err := os.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, err := audit.Verify(f, audit.WithKey([]byte("k3y")))
	if err != nil || head.Seq < 2 {
		t.Errorf("audit log: head %v, %v; want a keyed chain of the refresh", head, err)
	}
	if !strings.Contains(e.log.String(), `"msg":"audit log closed"`) {
		t.Errorf("log:\n%s", e.log)
	}
}

func TestRefreshTokenSeedAndEnvSecret(t *testing.T) {
	ts := newTokenServer(t, issue)
	env := map[string]string{"CLIENT_SECRET": "from-env", "SEED": "refresh-seed"}
	e := startAgent(t, shortDir(t), ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_env: CLIENT_SECRET
    refresh_token_env: SEED
    scopes: [read, write]
    params: {audience: https://api.example}
    store: {path: token.json}
`, Options{Getenv: func(k string) string { return env[k] }})
	code, _, body := get(t, unixClient(filepath.Join(e.dir, "api.sock")), "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"})
	if code != 200 || decode[TokenResponse](t, body).AccessToken != "access-1" {
		t.Fatalf("%d %s", code, body)
	}
	f := ts.form(0)
	if f.Get("refresh_token") != "refresh-seed" || f.Get("scope") != "read write" || f.Get("audience") != "https://api.example" {
		t.Errorf("token request %v", f)
	}
	if want := "Basic " + basic("cli", "from-env"); ts.auths[0] != want {
		t.Errorf("Authorization %q, want %q", ts.auths[0], want)
	}
}

func basic(id, secret string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestNewErrors(t *testing.T) {
	dir := shortDir(t)
	for _, tc := range []struct {
		name, config, err string
	}{
		{"missing secret file", "client_secret_file: nope\n    grant: client_credentials", "profiles.api.client_secret_file: cannot read the file it names: no such file or directory"},
		{"unset env", "client_secret_env: AUTHFSM_TEST_UNSET\n    grant: client_credentials", "profiles.api.client_secret_env: the environment variable it names is unset or empty"},
		{"empty store, no seed", "store: {path: token.json}", "holds no token pair, and neither refresh_token_file nor refresh_token_env seeds it"},
		{"bad key file", "private_key_jwt: {key_file: nope}\n    grant: client_credentials", "profiles.api.private_key_jwt.key_file: cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(filepath.Join(dir, "agent.yaml"), []byte("listen: unix:"+tc.name+".sock\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: cli\n    "+tc.config+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(context.Background(), cfg, Options{Getenv: func(string) string { return "" }})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			// --check reports it too.
			err = Check(context.Background(), cfg, Options{Getenv: func(string) string { return "" }})
			if errs := Errors(err); len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err) {
				t.Errorf("Check: %v, want one error %q", err, tc.err)
			}
			if _, err := os.Lstat(filepath.Join(dir, tc.name+".sock")); !os.IsNotExist(err) {
				t.Errorf("a failed New left its socket: %v", err)
			}
		})
	}
}
