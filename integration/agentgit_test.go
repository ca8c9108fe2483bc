package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
)

// gitClient runs Debian's git with a HOME of its own, no system config
// and no prompt: what its credential helpers answer is all it has.
type gitClient struct {
	t    *testing.T
	git  string
	home string
}

func newGitClient(t *testing.T) *gitClient {
	t.Helper()
	return &gitClient{t: t, git: needTool(t, "git"), home: t.TempDir()}
}

// run runs git with args and returns its combined output and error.
func (g *gitClient) run(args ...string) (string, error) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(g.t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.git, args...)
	cmd.Dir = g.home
	cmd.Env = []string{"HOME=" + g.home, "XDG_CONFIG_HOME=" + filepath.Join(g.home, ".config"), "PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	if raceEnabled {
		// The helper is authfsm built with -race, whose runtime sleeps a
		// second before it exits.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (g *gitClient) must(args ...string) string {
	g.t.Helper()
	out, err := g.run(args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// bareRepo creates root/repo.git with one commit.
func bareRepo(t *testing.T, g *gitClient, root string) {
	t.Helper()
	work := filepath.Join(g.home, "seed")
	g.must("init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.must("-C", work, "add", "README")
	g.must("-C", work, "commit", "-q", "-m", "first")
	g.must("clone", "-q", "--bare", work, filepath.Join(root, "repo.git"))
}

// tokensSeen returns the distinct tokens a git server's requests presented,
// in order, and whether any request was refused.
func tokensSeen(reqs []gitRequest) (tokens []string, refused bool) {
	for _, r := range reqs {
		if r.Token != "" && (len(tokens) == 0 || tokens[len(tokens)-1] != r.Token) {
			tokens = append(tokens, r.Token)
		}
		if r.Status == 401 && r.Token != "" {
			refused = true
		}
	}
	return tokens, refused
}

// TestGitCredentialHelper runs Debian's git against a git server (`git
// http-backend`) that accepts the token server's access tokens, with
// `authfsm token --format git` as its credential helper, scoped as the
// docs/credential-helpers.md shows it, under a global `credential.helper=store`. git clones
// with the agent's current token; a token the server refuses is erased by
// git, and the next fetch gets a fresh one; past that token's expiry a
// fetch gets the token the agent refreshed; the helper answers nothing for a host the
// profile does not name, even unscoped; and nothing writes the token to
// ~/.git-credentials.
func TestGitCredentialHelper(t *testing.T) {
	// Tokens live long enough for a refused one to be still the agent's
	// when git erases it, even with the race detector.
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 8 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	g := newGitClient(t)
	root := t.TempDir()
	bareRepo(t, g, root)
	gs := startGitServer(t, e.srv, root)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: refreshAhead, requestTimeout: requestTimeout,
		extra: fmt.Sprintf("    git: {hosts: [%q]}\n", gs.Host),
	})
	helper := "!" + authfsmCmd(t) + " token --socket " + a.apiSock + " --profile api --format git"
	// A global store helper, then the scoped form of docs/credential-helpers.md.
	g.must("config", "--global", "credential.helper", "store")
	g.must("config", "--global", "credential."+gs.URL+".helper", "")
	g.must("config", "--global", "--add", "credential."+gs.URL+".helper", helper)
	current := func() string {
		t.Helper()
		tok, err := a.apiToken(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	var outputs []string
	var all []string // every token git presented

	// Clone: git asks the helper, which answers the agent's token.
	clone := filepath.Join(g.home, "clone")
	outputs = append(outputs, g.must("clone", gs.URL+"/repo.git", clone))
	first, err := a.apiToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := tokensSeen(gs.requests())
	if len(toks) != 1 || toks[0] != first.AccessToken {
		t.Fatalf("the clone presented %d tokens; want the agent's current one", len(toks))
	}
	all = append(all, toks...)

	// The server refuses the current token: the fetch fails, git erases
	// the token, and the agent refreshes it; the next fetch gets a fresh
	// token and succeeds. (Long after the agent's refresh-ahead point, so
	// that the refused token is still the one it serves.)
	// fosite rounds expiry instants to whole seconds and truncates
	// expires_in, so a token refreshed within a second of its predecessor
	// may expire no later than it, which the machine, knowing expiries but
	// not tokens, takes for a stale answer and retries: let the first
	// token age past that second before it is refused.
	time.Sleep(time.Second + 100*time.Millisecond)
	gs.refuse(first.AccessToken)
	out, err := g.run("-C", clone, "fetch")
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, "Authentication failed") {
		t.Fatalf("the fetch with a refused token: %v, want git's authentication failure:\n%s", err, out)
	}
	toks, refused := tokensSeen(gs.requests())
	if len(toks) != 1 || toks[0] != first.AccessToken || !refused {
		t.Fatalf("the refused fetch presented %d tokens (refused: %t); want the refused one", len(toks), refused)
	}
	outputs = append(outputs, g.must("-C", clone, "fetch"))
	toks, refused = tokensSeen(gs.requests())
	if len(toks) != 1 || toks[0] == first.AccessToken || refused {
		t.Fatalf("the fetch after git's erase presented %d tokens (the refused one again: %t, refused: %t); want a fresh one",
			len(toks), len(toks) > 0 && toks[0] == first.AccessToken, refused)
	}
	all = append(all, toks...)
	second, err := a.apiToken(t.Context())
	if err != nil || second.AccessToken != toks[0] {
		t.Fatalf("the agent serves another token than the fresh one git got (%v)", err)
	}

	// Past the instant the agent advertised for that token (its
	// password_expiry_utc, a second before the agent refreshes it), a fetch
	// gets the token the agent refreshed, waiting for it if need be.
	time.Sleep(time.Until(second.ExpiresAt.Add(200 * time.Millisecond)))
	outputs = append(outputs, g.must("-C", clone, "fetch"))
	toks, _ = tokensSeen(gs.requests())
	if len(toks) != 1 || toks[0] == second.AccessToken || toks[0] != current() {
		t.Fatalf("the fetch after the expiry presented %d tokens (the expired one: %t); want the agent's new one", len(toks), len(toks) > 0 && toks[0] == second.AccessToken)
	}
	all = append(all, toks...)
	_, metrics := curlGet(t.Context(), needTool(t, "curl"), "http://localhost/metrics", "--unix-socket", a.apiSock)
	if !strings.Contains(metrics, `authfsm_agent_token_rejections_total{profile="api",result="current"} 1`) {
		t.Errorf("the agent counts no rejection:\n%s", metrics)
	}

	// The store helper was emptied for the remote: no plain-text copy.
	if b, err := os.ReadFile(filepath.Join(g.home, ".git-credentials")); err == nil {
		assertNoSecret(t, "~/.git-credentials", string(b), all...)
	}

	// Unscoped, for a host the profile does not name (the same server, as
	// localhost): the helper answers nothing, so git has no credential.
	other := newGitClient(t)
	other.must("config", "--global", "credential.helper", helper)
	unnamed := strings.Replace(gs.URL, "127.0.0.1", "localhost", 1)
	out, err = other.run("ls-remote", unnamed+"/repo.git")
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, "does not answer git for http://localhost:") {
		t.Errorf("ls-remote %s with an unscoped helper: %v; want no credential and the helper's reason:\n%s", unnamed, err, out)
	}
	if toks, _ := tokensSeen(gs.requests()); len(toks) != 0 {
		t.Errorf("a host the profile does not name received %d tokens", len(toks))
	}

	// Why docs/credential-helpers.md empties the list: unscoped after a global store, git
	// hands the token to store after a success, which writes it in clear.
	leaky := newGitClient(t)
	leaky.must("config", "--global", "credential.helper", "store")
	leaky.must("config", "--global", "--add", "credential.helper", helper)
	outputs = append(outputs, leaky.must("ls-remote", gs.URL+"/repo.git"))
	toks, _ = tokensSeen(gs.requests())
	b, _ := os.ReadFile(filepath.Join(leaky.home, ".git-credentials"))
	if len(toks) != 1 || !strings.Contains(string(b), toks[0]) {
		t.Errorf("without the empty entry, ~/.git-credentials holds the token: %t; docs/credential-helpers.md says git's store helper writes it there",
			len(toks) == 1 && strings.Contains(string(b), toks[0]))
	}

	// No token in git's output (the helper's stderr included) or the
	// agent's log.
	for _, o := range outputs {
		assertNoSecret(t, "git's output", o, all...)
	}
	assertNoSecret(t, "agent log", a.stderr.String(), append(all, login.RefreshToken)...)
	t.Logf("git presented %d tokens across the expiry and the refusal; the agent's log:\n%s", len(all), lastLines(a.stderr.String(), 5))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
