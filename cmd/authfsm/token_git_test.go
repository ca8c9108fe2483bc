package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authfsm/authfsm/agent"
)

// gitAgent runs an agent in this process with a client_credentials profile
// "git" that names git.example.com and 127.0.0.1:3000 for git, against a
// token endpoint issuing access-1, access-2, …; it returns the agent's API
// socket and the count of token requests.
func gitAgent(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-%d","token_type":"Bearer","expires_in":3600}`, n.Add(1))
	}))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cr3t\n"), 0o600)
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg, err := agent.Parse(cfgPath, []byte(`listen: unix:api.sock
profiles:
  git:
    token_url: `+ts.URL+`/token
    client_id: cli
    client_secret_file: secret
    grant: client_credentials
    session: {policy: {kind: constant, initial: 1h, jitter: none}}
    git: {hosts: [git.example.com, "127.0.0.1:3000"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(t.Context(), cfg, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return filepath.Join(dir, "api.sock"), &n
}

// TestTokenGitHelper runs the git credential helper as git does, against a
// running agent: it answers only for the hosts the profile names, over
// https or loopback http, and an erase of the token served (git's answer
// to a server's refusal) makes the next get answer a fresh token.
func TestTokenGitHelper(t *testing.T) {
	sock, requests := gitAgent(t)
	helper := func(op, in string) (int, string, string) {
		t.Helper()
		r := strings.NewReader(in)
		stdin = r
		defer func() { stdin = os.Stdin }()
		code, out, errOut := runCLI("token", "--format", "git", "--socket", sock, "--profile", "git", op)
		if r.Len() != 0 {
			t.Errorf("%s: %d bytes of git's request left unread", op, r.Len())
		}
		return code, out, errOut
	}
	for _, tc := range []struct {
		name, in string
		answer   bool
		stderr   string
	}{
		{"https to a named host", "protocol=https\nhost=git.example.com\n\n", true, ""},
		{"http to a loopback host named", "protocol=http\nhost=127.0.0.1:3000\n\n", true, ""},
		{"http to a named host", "protocol=http\nhost=git.example.com\n\n", false, "plain http is answered for a loopback host only"},
		{"another host", "protocol=https\nhost=github.com\n\n", false, "does not answer git for https://github.com"},
		{"no host", "protocol=https\n\n", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := helper("get", tc.in)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if tc.answer != strings.Contains(out, "password=access-") {
				t.Errorf("stdout %q; want an answer: %t", out, tc.answer)
			}
			if !tc.answer && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr %q, want %q", errOut, tc.stderr)
			}
		})
	}
	get := "protocol=https\nhost=git.example.com\n\n"
	if _, out, _ := helper("get", get); !strings.Contains(out, "password=access-1\n") {
		t.Fatalf("get: %q, want access-1", out)
	}
	// An erase of another host's password, or of an older token: nothing.
	for _, in := range []string{
		"protocol=https\nhost=github.com\nusername=oauth2\npassword=access-1\n\n",
		"protocol=https\nhost=git.example.com\nusername=oauth2\npassword=access-0\n\n",
		"protocol=https\nhost=git.example.com\nusername=oauth2\n\n",
	} {
		if code, out, errOut := helper("erase", in); code != exitOK || out != "" || errOut != "" {
			t.Errorf("erase %q: exit %d, %q, %q", in, code, out, errOut)
		}
	}
	if _, out, _ := helper("get", get); !strings.Contains(out, "password=access-1\n") || requests.Load() != 1 {
		t.Fatalf("get after erasing other credentials: %q, %d token requests; want access-1, 1", out, requests.Load())
	}
	// git erases the token the server refused: the agent refreshes it.
	if code, out, errOut := helper("erase", "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=access-1\n\n"); code != exitOK || out != "" || errOut != "" {
		t.Errorf("erase: exit %d, %q, %q", code, out, errOut)
	}
	if _, out, _ := helper("get", get); !strings.Contains(out, "password=access-2\n") {
		t.Errorf("get after the erase: %q, want the fresh access-2", out)
	}
	// store is ignored.
	if code, out, _ := helper("store", "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=access-2\n\n"); code != exitOK || out != "" {
		t.Errorf("store: exit %d, %q", code, out)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}
