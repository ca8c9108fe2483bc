package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/integration/internal/syncbuf"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/states"
)

// loginAgentConfig is an agent whose one profile logs in with the device
// flow at zitadel's OpenID Provider (fosite has no device flow), keeping
// its pair in a file store that nothing seeds.
const loginAgentConfig = `# written by the authfsm integration tests
listen: unix:api.sock
audit: {path: audit.jsonl}
log_level: debug
shutdown_timeout: 5s
profiles:
  api:
    issuer: %s
    client_id: %s
    scopes: [openid, offline_access]
    login: {flow: device}
    store: {path: store.json}
`

// TestLoginAgent runs `authfsm agent` with a profile whose store was never
// seeded: its session needs a login, and /v1/token says how to log in.
// `authfsm login --profile api` prints the device code on its terminal;
// the test plays the user, who approves it at the provider; the running
// agent adopts the stored pair without a restart and serves it, and
// refreshes it at the provider when a client reports it refused. `authfsm
// logout --profile api` then revokes the pair at the provider (the refresh
// token is refused afterwards) and removes it from the store: the running
// agent stops serving it at once and needs a login again — the way back
// after a revocation, which a second `authfsm login` takes.
func TestLoginAgent(t *testing.T) {
	p := startProvider(t)
	u := newUser(t, p)
	dir, err := os.MkdirTemp("", "authfsm-login-") // short: a unix socket's path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(loginAgentConfig, p.issuer(), deviceClientID)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(authfsmCmd(t), "agent", "--config", cfg)
	var agentLog syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &agentLog, &agentLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("the agent's log:\n%s", agentLog.String())
		}
	})
	api := &agent.Client{Listen: agent.Listen{Network: "unix", Address: filepath.Join(dir, "api.sock")}, Timeout: 2 * time.Second}
	ask := func() (agent.TokenResponse, *agent.UnavailableError) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		tok, err := api.Token(ctx, "api")
		var ue *agent.UnavailableError
		errors.As(err, &ue)
		return tok, ue
	}

	// Never seeded: the session needs a login, and says how.
	var ue *agent.UnavailableError
	waitFor(t, "the agent to answer", 15*time.Second, func() bool { _, ue = ask(); return ue != nil })
	if ue.Status != 503 || ue.State != states.NeedsLogin.String() || !strings.Contains(ue.Message, "login required") ||
		!strings.Contains(ue.Message, "run authfsm login --profile api --config "+cfg) || ue.RetryAfter != 0 {
		t.Fatalf("/v1/token before any login: %+v", ue)
	}

	first := loginAsUser(t, u, cfg, 1)
	var tok agent.TokenResponse
	waitFor(t, "the running agent to adopt the login's pair", 10*time.Second, func() bool { tok, ue = ask(); return ue == nil })
	if tok.AccessToken != first.Access.Reveal() || tok.State != "valid" {
		t.Fatalf("the agent serves %s (%s), want the login's pair %s", fingerprint(tok.AccessToken), tok.State, fingerprint(first.Access.Reveal()))
	}
	// The adopted pair refreshes at the provider.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := api.Reject(ctx, "api", tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a refreshed token", 10*time.Second, func() bool { next, ue := ask(); return ue == nil && next.AccessToken != tok.AccessToken })
	refreshed, err := (&session.FileStore{Path: filepath.Join(dir, "store.json")}).Load(t.Context())
	if err != nil || refreshed.Refresh == "" {
		t.Fatalf("the store after the refresh: %v, %v", refreshed, err)
	}

	// authfsm logout: revoked at the provider, removed, no longer served.
	stdout, stderr, code := runAuthfsm(t, nil, "logout", "--profile", "api", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "logged out: profile api") {
		t.Fatalf("authfsm logout: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	waitFor(t, "the agent to stop serving the logged-out pair", 5*time.Second, func() bool { _, ue = ask(); return ue != nil })
	if ue.State != states.NeedsLogin.String() || !strings.Contains(ue.Message, states.LoggedOutCause) {
		t.Fatalf("/v1/token after the logout: %+v", ue)
	}
	if _, err := (&session.FileStore{Path: filepath.Join(dir, "store.json")}).Load(t.Context()); !errors.Is(err, session.ErrNoToken) {
		t.Fatalf("the store after the logout: %v", err)
	}
	client := providerClient(t, p, nil)
	_, err = client.Refresh(t.Context(), session.Token{Refresh: refreshed.Refresh})
	var ee *session.EndpointError
	if !errors.As(err, &ee) || ee.Code != "invalid_grant" {
		t.Fatalf("a refresh with the logged-out refresh token: %v, want invalid_grant", err)
	}

	// The way back: another login, adopted by the running agent.
	second := loginAsUser(t, u, cfg, 2)
	waitFor(t, "the running agent to adopt the second login", 10*time.Second, func() bool { tok, ue = ask(); return ue == nil })
	if tok.AccessToken != second.Access.Reveal() {
		t.Fatalf("the agent serves %s, want the second login's %s", fingerprint(tok.AccessToken), fingerprint(second.Access.Reveal()))
	}
	if strings.Contains(agentLog.String(), first.Refresh.Reveal()) || strings.Contains(agentLog.String(), second.Access.Reveal()) {
		t.Error("the agent's log carries a token")
	}
}

// verificationURL finds the URL `authfsm login` prints for the user.
var verificationURL = regexp.MustCompile(`https?://\S+`)

// loginAsUser runs `authfsm login --profile api --config cfg` (the n-th
// login), reads the device code's URL from its terminal, approves it as
// the user, and returns the pair it stored.
func loginAsUser(t *testing.T, u *user, cfg string, n int) session.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, authfsmCmd(t), "login", "--profile", "api", "--config", cfg)
	if raceEnabled {
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	}
	var stdout syncbuf.Buffer
	cmd.Stdout = &stdout
	terminal, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	approved := make(chan error, 1)
	lines := bufio.NewScanner(terminal)
	for lines.Scan() {
		shown.WriteString(lines.Text() + "\n")
		if where := verificationURL.FindString(lines.Text()); where != "" && !strings.Contains(lines.Text(), "authfsm") {
			go func() {
				_, err := u.answerDevice(ctx, where, true)
				approved <- err
			}()
			break
		}
	}
	for lines.Scan() {
		shown.WriteString(lines.Text() + "\n")
	}
	werr := cmd.Wait()
	if err := <-approved; err != nil {
		t.Fatalf("login %d: the user's approval: %v\nterminal:\n%s", n, err, shown.String())
	}
	if werr != nil || !strings.Contains(stdout.String(), "logged in: profile api") ||
		!strings.Contains(shown.String(), "To log profile api in, open") {
		t.Fatalf("login %d: authfsm login: %v\nstdout %s\nterminal:\n%s", n, werr, stdout.String(), shown.String())
	}
	tok, err := (&session.FileStore{Path: filepath.Join(filepath.Dir(cfg), "store.json")}).Load(t.Context())
	if err != nil || tok.Access == "" || tok.Refresh == "" {
		t.Fatalf("login %d: the store holds %v, %v", n, tok, err)
	}
	if !strings.Contains(stdout.String(), fingerprint(tok.Access.Reveal())) {
		t.Errorf("login %d: authfsm login printed %q, not the stored pair's fingerprint", n, stdout.String())
	}
	return tok
}

// fingerprint is a token's audit fingerprint, what messages show of it.
func fingerprint(token string) string { return audit.Fingerprint(token) }
