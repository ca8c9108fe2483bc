package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/session"
)

func TestAgentAndTokenHelp(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--help"}, {"agent", "-h"}, {"agent", "--config", "x.yaml", "--help"},
		{"token", "--help"}, {"token", "--format", "git", "-help"},
	} {
		code, out, errOut := runCLI(args...)
		if code != exitOK || !strings.Contains(out, "usage: authfsm "+args[0]) || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if _, out, _ := runCLI("help"); !strings.Contains(out, "authfsm agent --config FILE") || !strings.Contains(out, "authfsm token [--profile P]") {
		t.Errorf("help does not list agent and token:\n%s", out)
	}
}

// TestAgentAndTokenHelpListFlags: --help lists every flag, as a bad flag's
// message says it does, and names a docs page and a README section that
// exist.
func TestAgentAndTokenHelpListFlags(t *testing.T) {
	tokenFS, _ := newTokenFlags(io.Discard)
	agentFS, _, _ := newAgentFlags(io.Discard)
	for _, fs := range []*flag.FlagSet{tokenFS, agentFS} {
		_, help, _ := runCLI(fs.Name(), "--help")
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(help, "\n  --"+f.Name+" ") {
				t.Errorf("authfsm %s --help does not list --%s:\n%s", fs.Name(), f.Name, help)
			}
		})
		code, _, errOut := runCLI(fs.Name(), "--no-such-flag")
		if code != exitBadInput || !strings.Contains(errOut, "authfsm "+fs.Name()+" --help lists the flags") {
			t.Errorf("a bad flag: exit %d, %q", code, errOut)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, help, _ := runCLI("agent", "--help")
	m := regexp.MustCompile(`See (docs/[\w.-]+\.md) \(and README\.md,\s+"([^"]+)"\)`).FindStringSubmatch(help)
	if m == nil {
		t.Fatalf("agent --help names no page under docs/ and README section:\n%s", help)
	}
	if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
		t.Errorf("agent --help names %s: %v", m[1], err)
	}
	section := strings.Join(strings.Fields(m[2]), " ")
	if !strings.Contains(string(readme), "\n## "+section+"\n") {
		t.Errorf("agent --help names README section %q, which README.md lacks", section)
	}
}

func TestAgentCommandErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/t\n    client_id: c\n    client_secret_env: S\n    grant: client_credentials\n"), 0o600)
	inline := filepath.Join(dir, "inline.yaml")
	os.WriteFile(inline, []byte("listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/t\n    client_secret: hunter2\n"), 0o600)
	// Secrets pasted where a variable's or a file's name belongs.
	pastedEnv := filepath.Join(dir, "pasted-env.yaml")
	os.WriteFile(pastedEnv, []byte("listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/t\n    client_id: c\n    client_secret_env: hunter2/Zm9v+YmFy==\n    grant: client_credentials\n"), 0o600)
	pastedName := filepath.Join(dir, "pasted-name.yaml")
	os.WriteFile(pastedName, []byte("listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/t\n    client_id: c\n    client_secret_env: HUNTER2ZM9VYMFY\n    grant: client_credentials\n"), 0o600)
	pastedFile := filepath.Join(dir, "pasted-file.yaml")
	os.WriteFile(pastedFile, []byte("listen: 127.0.0.1:0\nprofiles:\n  api:\n    token_url: https://auth.example/t\n    client_id: c\n    client_secret_file: hunter2-Zm9vYmFy\n    grant: client_credentials\n"), 0o600)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no config", []string{"agent"}, exitBadInput, "", "usage: authfsm agent"},
		{"missing file", []string{"agent", "--config", filepath.Join(dir, "none.yaml")}, exitBadInput, "", "none.yaml: cannot read"},
		{"inline secret", []string{"agent", "--config", inline}, exitBadInput, "", "inline.yaml:5: profiles.api.client_secret: an inline secret is refused"},
		{"check, a secret unset", []string{"agent", "--config", good, "--check"}, exitBadInput, "",
			"good.yaml: profiles.api.client_secret_env: the environment variable it names is unset or empty\nauthfsm agent: " + good + ": 1 problem; the agent would not start\n"},
		{"unset secret", []string{"agent", "--config", good}, exitBadInput, "", "profiles.api.client_secret_env: the environment variable it names is unset or empty"},
		{"a secret as client_secret_env", []string{"agent", "--config", pastedEnv}, exitBadInput, "",
			"pasted-env.yaml:6: profiles.api.client_secret_env: want the name of an environment variable (letters, digits and '_'), not the secret itself"},
		{"a secret as a variable's name", []string{"agent", "--config", pastedName}, exitBadInput, "",
			"profiles.api.client_secret_env: the environment variable it names is unset or empty"},
		{"a secret as client_secret_file", []string{"agent", "--config", pastedFile}, exitBadInput, "",
			"profiles.api.client_secret_file: cannot read the file it names: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			if strings.Contains(strings.ToLower(errOut), "hunter2") {
				t.Errorf("the secret is in the error: %s", errOut)
			}
		})
	}
}

// TestAgentCheck: --check reports every problem the agent would refuse
// at its start, one line each, then how many, and exits 2; it starts
// nothing (no socket, no audit log, no token request); a file the agent
// would start with is ok. A file that does not parse is reported at the
// first problem of each top-level key and profile.
func TestAgentCheck(t *testing.T) {
	requests := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++ }))
	defer ts.Close()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("secret", "s3cr3t\n")
	write("broken.jsonl", "not a chained record\n")
	if err := (&session.FileStore{Path: filepath.Join(dir, "held.json")}).Save(context.Background(), session.Token{Refresh: "refresh-1"}); err != nil {
		t.Fatal(err)
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	good := write("good.yaml", `listen: unix:api.sock
audit: {path: audit.jsonl}
profiles:
  cc:
    token_url: `+ts.URL+`
    client_id: c
    client_secret_file: secret
    grant: client_credentials
  rt:
    token_url: `+ts.URL+`
    store: {path: held.json}
`)
	code, out, errOut := runCLI("agent", "--config", good, "--check")
	if code != exitOK || out != good+": 2 profiles, ok\n" || errOut != "" {
		t.Errorf("a good file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	one := write("one.yaml", `listen: unix:api.sock
profiles:
  cc:
    token_url: `+ts.URL+`
    client_id: c
    client_secret_file: secret
    grant: client_credentials
`)
	if code, out, errOut := runCLI("agent", "--config", one, "--check"); code != exitOK || out != one+": 1 profile, ok\n" || errOut != "" {
		t.Errorf("a file of one profile: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, one+": 1 profile, ok\n")
	}
	for _, f := range []string{"api.sock", "audit.jsonl"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("--check created %s", f)
		}
	}

	bad := write("bad.yaml", `listen: unix:nodir/api.sock
audit: {path: broken.jsonl}
profiles:
  secret:
    token_url: `+ts.URL+`
    client_id: c
    client_secret_file: missing
    grant: client_credentials
  env:
    token_url: `+ts.URL+`
    client_id: c
    client_secret_env: AUTHFSM_TEST_UNSET_VAR
    grant: client_credentials
  seedless:
    token_url: `+ts.URL+`
    store: {path: empty.json}
  key:
    token_url: `+ts.URL+`
    client_id: c
    private_key_jwt: {key_file: secret}
    grant: client_credentials
  redis:
    token_url: `+ts.URL+`
    store: {redis: {addr: 127.0.0.1:6379, key: k, password_file: no-password}}
    proxy: {listen: `+held.Addr().String()+`, upstream: https://api.example}
`)
	code, out, errOut = runCLI("agent", "--config", bad, "--check")
	want := []string{
		"listening for the API on unix:" + filepath.Join(dir, "nodir/api.sock") + ": its directory " + filepath.Join(dir, "nodir") + " does not exist",
		"audit log " + filepath.Join(dir, "broken.jsonl") + ": ",
		"profiles.secret.client_secret_file: cannot read the file it names: no such file or directory",
		"profiles.env.client_secret_env: the environment variable it names is unset or empty",
		"profile seedless: the store " + filepath.Join(dir, "empty.json") + " holds no token pair, and neither refresh_token_file nor refresh_token_env seeds it",
		"profiles.key.private_key_jwt.key_file: the file it names is not a usable private key",
		"profiles.redis.store.redis.password_file: cannot read the file it names: no such file or directory",
		"listening for profile redis's proxy on " + held.Addr().String() + ": ",
		bad + ": 8 problems; the agent would not start",
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != exitBadInput || out != "" || len(lines) != len(want) {
		t.Fatalf("a bad file: exit %d, stdout %q, %d lines on stderr, want %d:\n%s", code, out, len(lines), len(want), errOut)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "authfsm agent: ") || !strings.Contains(lines[i], w) {
			t.Errorf("line %d: %q, want one containing %q", i+1, lines[i], w)
		}
	}
	if strings.Contains(errOut, "s3cr3t") || requests != 0 {
		t.Errorf("the check quoted a secret (%t) or sent %d token requests", strings.Contains(errOut, "s3cr3t"), requests)
	}

	unparsed := write("unparsed.yaml", `listen: 0.0.0.0:1
profiles:
  a:
    token_url: `+ts.URL+`
    client_secret: hunter2
  b:
    token_url: `+ts.URL+`
    grant: password
  c:
    token_url: `+ts.URL+`
    store: {path: c.json}
`)
	code, _, errOut = runCLI("agent", "--config", unparsed, "--check")
	want = []string{"unparsed.yaml:1: listen: the agent listens on loopback only", "unparsed.yaml:5: profiles.a.client_secret: an inline secret is refused",
		"unparsed.yaml:8: profiles.b.grant: want refresh_token, client_credentials or token_exchange"}
	lines = strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != exitBadInput || len(lines) != len(want) || strings.Contains(errOut, "hunter2") {
		t.Fatalf("a file that does not parse: exit %d, stderr:\n%s", code, errOut)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d: %q, want one containing %q", i+1, lines[i], w)
		}
	}
}

// fakeAgent serves a fixed /v1/token answer on a unix socket, as an agent
// does, refusing requests without the header.
func fakeAgent(t *testing.T, status int, body string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/token" || r.Header.Get(agent.TokenRequestHeader) != "1" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"no header"}`)
			return
		}
		if p := r.URL.Query().Get("profile"); p != "" && p != "api" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"authfsm agent: no such profile"}`)
			return
		}
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "30")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestTokenCommand(t *testing.T) {
	const tokenJSON = `{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","token_type":"Bearer","expires_at":"2099-06-01T10:30:45.9Z","token_expires_at":"2099-06-01T10:35:46.9Z","state":"valid"}`
	sock := fakeAgent(t, http.StatusOK, tokenJSON)
	unavailable := fakeAgent(t, http.StatusServiceUnavailable,
		`{"error":"session: token refresh failed: 502 Bad Gateway from https://auth.example/token (attempt 2, next in 30s; no access token)","state":"backoff"}`)
	t.Setenv("KUBERNETES_EXEC_INFO", "")
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		env    string // AUTHFSM_AGENT
		code   int
		golden string // the file under testdata/ that stdout must match
		stderr string // a substring of stderr
	}{
		{"bare", []string{"--socket", sock}, "", "", exitOK, "token-bare.golden", ""},
		{"json", []string{"--format", "json", "--agent", "unix:" + sock, "--profile", "api"}, "", "", exitOK, "token-json.golden", ""},
		{"exec-credential", []string{"--format", "exec-credential"}, "", "unix:" + sock, exitOK, "token-exec-credential.golden", ""},
		{"git get", []string{"--format", "git", "--socket", sock, "get"}, "protocol=https\nhost=git.example\n\n", "", exitOK, "token-git.golden", ""},
		{"git get, flags after", []string{"get", "--format", "git", "--socket", sock, "--username", "x-access-token"}, "protocol=https\nhost=git.example\n", "", exitOK, "token-git-username.golden", ""},
		{"git store", []string{"--format", "git", "--socket", sock, "store"}, "protocol=https\nhost=git.example\npassword=x\n", "", exitOK, "", ""},
		{"git erase", []string{"--format", "git", "--socket", unavailable, "erase"}, "", "", exitOK, "", ""},
		{"git without an operation", []string{"--format", "git", "--socket", sock}, "", "", exitBadInput, "", "takes git's operation"},
		{"unavailable", []string{"--socket", unavailable}, "", "", exitFailed, "",
			"authfsm token: agent answered 503 Service Unavailable: session: token refresh failed: 502 Bad Gateway from https://auth.example/token (attempt 2, next in 30s; no access token) (retry after 30s)"},
		{"unknown profile", []string{"--socket", sock, "--profile", "nope"}, "", "", exitBadInput, "", "404 Not Found: authfsm agent: no such profile"},
		{"no agent", []string{"--socket", filepath.Join(t.TempDir(), "none.sock")}, "", "", exitFailed, "", "cannot reach the agent"},
		{"unknown format", []string{"--format", "yaml", "--socket", sock}, "", "", exitBadInput, "", `--format "yaml"`},
		{"both addresses", []string{"--socket", sock, "--agent", "127.0.0.1:1"}, "", "", exitBadInput, "", "not both"},
		{"not loopback", []string{"--agent", "192.0.2.1:8180"}, "", "", exitBadInput, "", "loopback only"},
		{"a stray argument", []string{"--socket", sock, "get"}, "", "", exitBadInput, "", `unexpected argument "get"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AUTHFSM_AGENT", tc.env)
			in := strings.NewReader(tc.stdin)
			stdin = in
			defer func() { stdin = os.Stdin }()
			code, out, errOut := runCLI(append([]string{"token"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, errOut, tc.code, tc.stderr)
			}
			if tc.golden != "" {
				golden(t, tc.golden, []byte(out))
			} else if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if in.Len() != 0 {
				t.Errorf("%d bytes of git's request left unread", in.Len())
			}
		})
	}
}

// TestAgentCommand runs `authfsm agent` as a process does: the token
// command gets a token from it, and SIGTERM shuts it down gracefully,
// saving the token pair and removing its socket.
func TestAgentCommand(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-for-%s","refresh_token":"refresh-2","expires_in":3600}`, r.PostForm.Get("refresh_token"))
	}))
	defer ts.Close()
	dir := t.TempDir()
	store := filepath.Join(dir, "token.json")
	if err := (&session.FileStore{Path: store}).Save(context.Background(), session.Token{Refresh: "refresh-1"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("listen: unix:api.sock\nlog_level: warn\nprofiles:\n  api:\n    token_url: "+ts.URL+"\n    store: {path: token.json}\n"), 0o600)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"agent", "--config", cfg}, io.Discard, &stderr) }()
	sock := filepath.Join(dir, "api.sock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's socket did not appear")
		}
	}
	code, out, errOut := runCLI("token", "--socket", sock, "--format", "json")
	var tok agent.TokenResponse
	if code != exitOK || json.Unmarshal([]byte(out), &tok) != nil || tok.AccessToken != "access-for-refresh-1" {
		t.Fatalf("token: exit %d, %q, %q", code, out, errOut)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("agent exit %d:\n%s", code, &stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM did not stop the agent")
	}
	saved, err := (&session.FileStore{Path: store}).Load(context.Background())
	if err != nil || saved.Refresh != "refresh-2" {
		t.Errorf("the store holds %v (%v), want the rotated refresh-2", saved, err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there: %v", err)
	}
}
