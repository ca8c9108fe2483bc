package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/integration/internal/syncbuf"
	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
)

// kubeAPI is a Kubernetes API server as far as kubectl's requests here
// need one, over HTTPS: GET /version and the pods of the default
// namespace, for a Bearer token that the token server still accepts, 401
// (a Kubernetes Status) for any other. fosite revokes the previous access
// token when it refreshes, as Ory Hydra does: a client that keeps a token
// past the agent's refresh is refused.
type kubeAPI struct {
	*httptest.Server
	tokens *tokenserver.Server

	mu      sync.Mutex
	seen    []kubeRequest
	last    string    // the newest token presented
	expiry  time.Time // its expiry on the token server, when first presented
	revoked int       // previous tokens found revoked before their expiry as a new one came
}

// kubeRequest is one request the API server answered.
type kubeRequest struct {
	At     time.Time
	Path   string
	Token  string // audit.Fingerprint of the token presented
	Status int
}

func startKubeAPI(t *testing.T, tokens *tokenserver.Server) *kubeAPI {
	t.Helper()
	k := &kubeAPI{tokens: tokens}
	k.Server = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.Close)
	return k
}

func (k *kubeAPI) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	var expiry time.Time
	if ok {
		var err error
		expiry, err = k.tokens.AccessTokenExpiry(r.Context(), tok)
		ok = err == nil
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusUnauthorized
	}
	k.mu.Lock()
	k.seen = append(k.seen, kubeRequest{At: time.Now(), Path: r.URL.Path, Token: audit.Fingerprint(tok), Status: status})
	if ok && tok != k.last {
		// A new token: the one before it, not yet expired, must be
		// revoked already (the refresh that issued this one did it).
		if k.last != "" && time.Now().Before(k.expiry) {
			if _, err := k.tokens.AccessTokenExpiry(r.Context(), k.last); err != nil {
				k.revoked++
			}
		}
		k.last, k.expiry = tok, expiry
	}
	k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case !ok:
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
	case r.URL.Path == "/version":
		io.WriteString(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-authfsm-test","platform":"linux/amd64"}`)
	case r.URL.Path == "/api/v1/namespaces/default/pods":
		io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`)
	default:
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404}`)
	}
}

func (k *kubeAPI) requests() (seen []kubeRequest, revoked int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]kubeRequest(nil), k.seen...), k.revoked
}

// kubectlClient runs kubectl with a HOME and a kubeconfig of its own.
type kubectlClient struct {
	t       *testing.T
	kubectl string
	env     []string
}

// newKubectl writes a kubeconfig for api whose user runs `authfsm token
// --format exec-credential` against the agent's socket, as
// docs/credential-helpers.md shows it, with the ExecCredential version kubectl speaks
// (client.authentication.k8s.io/v1 from kubectl 1.22 on, v1beta1 before).
func newKubectl(t *testing.T, api *kubeAPI, a *agentProc) *kubectlClient {
	t.Helper()
	k := &kubectlClient{t: t, kubectl: needTool(t, "kubectl")}
	home := t.TempDir()
	k.env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "KUBECONFIG=" + filepath.Join(home, "kubeconfig"), "LC_ALL=C"}
	apiVersion, interactive := "client.authentication.k8s.io/v1", "      interactiveMode: Never\n"
	if minor := k.minorVersion(); minor < 22 {
		apiVersion, interactive = "client.authentication.k8s.io/v1beta1", ""
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	gorace := ""
	if raceEnabled {
		// The plugin is authfsm built with -race, whose runtime sleeps a
		// second before it exits.
		gorace = "      env: [{name: GORACE, value: atexit_sleep_ms=0}]\n"
	}
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: api
  user:
    exec:
      apiVersion: %s
      command: %s
      args: [token, --socket, %s, --profile, api, --format, exec-credential]
%s%s      installHint: authfsm is not installed
contexts:
- name: test
  context: {cluster: test, user: api}
current-context: test
`, api.URL, base64.StdEncoding.EncodeToString(ca), apiVersion, authfsmCmd(t), a.apiSock, gorace, interactive)
	if err := os.WriteFile(filepath.Join(home, "kubeconfig"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl speaks %s", apiVersion)
	return k
}

// minorVersion returns kubectl's minor version.
func (k *kubectlClient) minorVersion() int {
	k.t.Helper()
	cmd := exec.CommandContext(k.t.Context(), k.kubectl, "version", "--client", "-o", "json")
	cmd.Env = k.env
	out, err := cmd.Output()
	var v struct {
		ClientVersion struct{ Major, Minor, GitVersion string }
	}
	if err != nil || json.Unmarshal(out, &v) != nil {
		k.t.Fatalf("kubectl version --client -o json: %v\n%s", err, out)
	}
	minor, err := strconv.Atoi(strings.TrimRight(v.ClientVersion.Minor, "+"))
	if err != nil {
		k.t.Fatalf("kubectl's minor version %q", v.ClientVersion.Minor)
	}
	k.t.Logf("kubectl %s", v.ClientVersion.GitVersion)
	return minor
}

// command returns kubectl with args, bounded by ctx.
func (k *kubectlClient) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.kubectl, args...)
	cmd.Env = k.env
	return cmd
}

// proxy starts `kubectl proxy` on a free loopback port and returns its
// URL; it ends with the test.
func (k *kubectlClient) proxy() (string, *syncbuf.Buffer) {
	k.t.Helper()
	ctx, cancel := context.WithCancel(k.t.Context())
	cmd := k.command(ctx, "proxy", "--address", "127.0.0.1", "--port", "0")
	var errOut syncbuf.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// "Starting to serve on 127.0.0.1:PORT"
	line, err := bufio.NewReader(out).ReadString('\n')
	m := regexp.MustCompile(`127\.0\.0\.1:\d+`).FindString(line)
	if err != nil || m == "" {
		k.t.Fatalf("kubectl proxy said %q (%v):\n%s", line, err, errOut.String())
	}
	go io.Copy(io.Discard, out)
	return "http://" + m, &errOut
}

// TestKubectl runs kubectl (the machine's; Debian's kubernetes-client in
// CI) against an HTTPS API server that accepts only the tokens fosite
// still accepts, with `authfsm token --format exec-credential` as its
// credential plugin, across several lifetimes of 5 s tokens, on a server
// that revokes the previous access token at each refresh: `kubectl get
// --raw` again and again (a fresh process, which runs the plugin each
// time), and a long-lived `kubectl proxy` called every 100 ms (client-go
// keeps the credential until its expirationTimestamp, then runs the plugin
// again). No 401 may reach kubectl: the expirationTimestamp is the instant
// the agent stops handing the token out, a second before its refresh, and
// a plugin run within that second waits for the new token.
func TestKubectl(t *testing.T) {
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 5 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: 1500 * time.Millisecond, requestTimeout: requestTimeout,
	})
	api := startKubeAPI(t, e.srv)
	k := newKubectl(t, api, a)
	proxyURL, proxyErr := k.proxy()

	const run = 16 * time.Second // at least four refreshes
	ctx, cancel := context.WithTimeout(t.Context(), run)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...))
	}
	gets, proxied := 0, 0
	wg.Go(func() { // kubectl get --raw, one process after another
		for ctx.Err() == nil {
			cctx, ccancel := context.WithTimeout(t.Context(), 30*time.Second)
			out, err := k.command(cctx, "get", "--raw", "/version").CombinedOutput()
			ccancel()
			if err != nil {
				fail("kubectl get --raw /version: %v: %s", err, strings.TrimSpace(string(out)))
				continue
			}
			if !strings.Contains(string(out), "v1.32.0-authfsm-test") {
				fail("kubectl get --raw /version printed %q", out)
			}
			gets++
		}
	})
	wg.Go(func() { // through the long-lived kubectl proxy
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		paths := []string{"/version", "/api/v1/namespaces/default/pods"}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			status, err := get(t.Context(), http.DefaultClient, proxyURL+paths[i%2])
			if err != nil || status != http.StatusOK {
				fail("kubectl proxy %s: %d %v", paths[i%2], status, err)
				continue
			}
			proxied++
		}
	})
	wg.Wait()

	seen, revoked := api.requests()
	tokens, refused := map[string]bool{}, 0
	for _, r := range seen {
		tokens[r.Token] = true
		if r.Status == http.StatusUnauthorized {
			refused++
		}
	}
	_, metrics := curlGet(t.Context(), needTool(t, "curl"), "http://localhost/metrics", "--unix-socket", a.apiSock)
	handovers := regexp.MustCompile(`(?m)^authfsm_agent_token_handovers_total\{profile="api"\} .*$`).FindString(metrics)
	t.Logf("%d kubectl get runs, %d calls through kubectl proxy; the API server answered %d requests with %d tokens, %d of them 401; %d previous tokens found revoked before their expiry; %s",
		gets, proxied, len(seen), len(tokens), refused, revoked, handovers)
	if refused != 0 || len(failures) != 0 {
		t.Errorf("%d requests refused with 401; kubectl failed %d times:\n%s\nkubectl proxy's log:\n%s",
			refused, len(failures), strings.Join(failures, "\n"), proxyErr.String())
	}
	if len(tokens) < 4 || revoked < 3 {
		t.Errorf("%d tokens presented, %d previous ones found revoked early; want at least 4 tokens, the server revoking each previous one", len(tokens), revoked)
	}
	if gets < 4 || proxied < 50 {
		t.Errorf("only %d kubectl get runs and %d calls through kubectl proxy", gets, proxied)
	}
	assertNoSecret(t, "agent log", a.stderr.String(), login.RefreshToken)
}
