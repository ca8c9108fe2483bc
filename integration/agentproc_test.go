package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/integration/internal/syncbuf"
	"github.com/authfsm/authfsm/integration/nginx"
)

// This file runs the authfsm command (../cmd/authfsm, built once per run of
// the test binary) as `authfsm agent` for clients in other languages, and
// `authfsm token` and `authfsm audit verify` against it.

// authfsmBin is the authfsm command, built on first use and removed by
// TestMain.
var authfsmBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// authfsmCmd returns the path of the authfsm command, building it (with
// -race when the tests run with it) the first time. It is built in the
// root module, with the root module's own go.mod, as a user gets it.
func authfsmCmd(t *testing.T) string {
	t.Helper()
	authfsmBin.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			authfsmBin.err = fmt.Errorf("no go command to build authfsm with: %w", err)
			return
		}
		if authfsmBin.dir, err = os.MkdirTemp("", "authfsm-cmd-"); err != nil {
			authfsmBin.err = err
			return
		}
		path := filepath.Join(authfsmBin.dir, "authfsm")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goBin, append(args, "./cmd/authfsm")...)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			authfsmBin.err = fmt.Errorf("go build ../cmd/authfsm: %v\n%s", err, out)
			return
		}
		authfsmBin.path = path
	})
	if authfsmBin.err != nil {
		t.Fatal(authfsmBin.err)
	}
	return authfsmBin.path
}

// needTool returns the path of a command-line tool a test drives (curl):
// without it the test skips, or fails where nginx is required (CI, which
// installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(nginx.RequireEnv) != "" {
		t.Fatalf("%s is not installed (apt-get install -y %s), and %s is set", name, name, nginx.RequireEnv)
	}
	t.Skipf("skipping: %s is not installed (apt-get install -y %s)", name, name)
	return ""
}

// agentSpec is what a test varies in the agent's configuration: one
// refresh_token profile "api" against the env's token endpoint through
// nginx, with a file store seeded from seed, and a proxy to nginx.
type agentSpec struct {
	tokenURL, clientID, clientSecret string
	seed                             string // the refresh token that seeds the store; "" for no refresh_token_file
	upstream                         string // the proxy's upstream
	refreshAhead, requestTimeout     time.Duration
	store                            string // the store's block, {path: store.json} by default
	extra                            string // more keys of the profile, each line indented by 4
}

// agentProc is a running `authfsm agent`.
type agentProc struct {
	dir       string // the configuration's directory, holding its files
	apiSock   string // the API's unix socket
	proxyAddr string // the proxy's loopback host:port
	auditPath string
	cmd       *exec.Cmd
	stderr    syncbuf.Buffer
	done      chan struct{} // closed once it exited
	err       error         // its exit, after done
}

// The agent's policy is fastPolicy's, without jitter.
const agentConfigTemplate = `# written by the authfsm integration tests
listen: unix:api.sock
audit: {path: audit.jsonl}
log_level: debug
shutdown_timeout: 5s
profiles:
  api:
    token_url: %s
    client_id: %s
    client_secret_file: client-secret
%s    session:
      refresh_ahead: %v
      request_timeout: %v
      wait_for_refresh: 0s
      policy: {kind: exponential, initial: %v, multiplier: %g, max: %v, jitter: none}
    store: %s
    proxy:
      listen: %s
      upstream: %s
%s`

// startAgent writes the configuration for spec into a fresh directory,
// starts `authfsm agent --config` on it and returns once the agent serves a
// token. The proxy's port is chosen by binding and releasing it; if another
// process takes it meanwhile, the agent exits and another port is tried.
func startAgent(t *testing.T, spec agentSpec) *agentProc {
	t.Helper()
	bin := authfsmCmd(t)
	// Not t.TempDir: a unix socket's path must stay short.
	dir, err := os.MkdirTemp("", "authfsm-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for name, secret := range map[string]string{"client-secret": spec.clientSecret, "refresh-token": spec.seed} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for range 3 {
		proxyAddr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		seed, store := "", spec.store
		if spec.seed != "" {
			seed = "    refresh_token_file: refresh-token\n"
		}
		if store == "" {
			store = "{path: store.json}"
		}
		conf := fmt.Sprintf(agentConfigTemplate, spec.tokenURL, spec.clientID, seed, spec.refreshAhead, spec.requestTimeout,
			fastPolicy.Initial, fastPolicy.Multiplier, fastPolicy.Max, store, proxyAddr, spec.upstream, spec.extra)
		cfgPath := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		a := &agentProc{dir: dir, apiSock: filepath.Join(dir, "api.sock"), proxyAddr: proxyAddr,
			auditPath: filepath.Join(dir, "audit.jsonl"), done: make(chan struct{})}
		a.cmd = exec.Command(bin, "agent", "--config", cfgPath)
		a.cmd.Stdout, a.cmd.Stderr = &a.stderr, &a.stderr
		if err := a.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			a.err = a.cmd.Wait()
			close(a.done)
		}()
		if lastErr = a.waitReady(15 * time.Second); lastErr == nil {
			t.Cleanup(func() {
				a.kill()
				if t.Failed() {
					t.Logf("agent's log:\n%s", a.stderr.String())
				}
			})
			return a
		}
		a.kill()
		if !strings.Contains(a.stderr.String(), "address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

// freeAddr returns a loopback host:port nothing listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitReady polls the agent's API until it serves a token.
func (a *agentProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := a.apiToken(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-a.done:
			return fmt.Errorf("authfsm agent exited at startup (%v):\n%s", a.err, a.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("authfsm agent served no token within %v (last: %v):\n%s", timeout, err, a.stderr.String())
		}
	}
}

// apiToken asks the agent's API for the token, as `authfsm token` does
// (agent.Client is its client side).
func (a *agentProc) apiToken(ctx context.Context) (agent.TokenResponse, error) {
	c := &agent.Client{Listen: agent.Listen{Network: "unix", Address: a.apiSock}, Timeout: 2 * time.Second}
	return c.Token(ctx, "api")
}

// stop sends SIGTERM and waits for the agent's graceful shutdown.
func (a *agentProc) stop(t *testing.T) error {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return a.err
	case <-time.After(10 * time.Second):
		a.kill()
		return errors.New("authfsm agent ignored SIGTERM for 10s and was killed")
	}
}

// kill ends the agent if it still runs.
func (a *agentProc) kill() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Kill()
	<-a.done
}

// run runs the authfsm command with args and env added to the test's own,
// bounded by 20 s, and returns its output and exit code.
func runAuthfsm(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, authfsmCmd(t), args...)
	cmd.Env = append(os.Environ(), env...)
	if raceEnabled {
		// The race detector's runtime sleeps a second before a process
		// exits (to let late reports through); these commands end at once.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("authfsm %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}
