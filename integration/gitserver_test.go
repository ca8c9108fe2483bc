package integration

import (
	"context"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authfsm/authfsm/integration/tokenserver"
)

// gitServer is a git remote over smart HTTP: Debian's `git http-backend`
// behind net/http/cgi, on loopback, accepting only an access token that
// the token server accepts, sent as the password of Basic authentication
// (as git sends a credential helper's answer) or as a Bearer token. A
// missing or refused token is answered 401 with a Basic challenge, which
// makes git ask its credential helpers, and, after a refusal, erase what
// they gave.
type gitServer struct {
	URL  string // http://127.0.0.1:PORT
	Host string // 127.0.0.1:PORT, as git's credential requests name it
	srv  *http.Server

	tokens  *tokenserver.Server
	mu      sync.Mutex
	refused map[string]bool // tokens refused although the token server accepts them
	seen    []gitRequest
}

// gitRequest is one request the git server received.
type gitRequest struct {
	Path   string
	Token  string // the token presented, "" for none
	Status int    // 401 or the backend's
}

// startGitServer serves the repositories under root (GIT_PROJECT_ROOT)
// until the test ends.
func startGitServer(t *testing.T, tokens *tokenserver.Server, root string) *gitServer {
	t.Helper()
	git := needTool(t, "git")
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend: %v", err)
	}
	g := &gitServer{tokens: tokens, refused: map[string]bool{}}
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.Host = ln.Addr().String()
	g.URL = "http://" + g.Host
	g.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := presentedToken(r)
		ok := tok != "" && g.accepts(r.Context(), tok)
		status := http.StatusUnauthorized
		if ok {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			// http-backend trusts REMOTE_USER; net/http/cgi sets it from
			// Basic authentication's user.
			cgiHandler.ServeHTTP(rec, r)
			status = rec.status
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "a valid access token is required", http.StatusUnauthorized)
		}
		g.mu.Lock()
		g.seen = append(g.seen, gitRequest{Path: r.URL.Path, Token: tok, Status: status})
		g.mu.Unlock()
	})}
	go g.srv.Serve(ln)
	t.Cleanup(func() { _ = g.srv.Close() })
	return g
}

// presentedToken returns the token of a Basic password or a Bearer header.
func presentedToken(r *http.Request) string {
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		return auth[7:]
	}
	return ""
}

// accepts reports whether tok is live at the token server and not refused.
func (g *gitServer) accepts(ctx context.Context, tok string) bool {
	g.mu.Lock()
	refused := g.refused[tok]
	g.mu.Unlock()
	if refused {
		return false
	}
	_, err := g.tokens.AccessTokenExpiry(ctx, tok)
	return err == nil
}

// refuse makes the server refuse tok from now on, although it is live (a
// token revoked at the resource, a key rotated under it).
func (g *gitServer) refuse(tok string) {
	g.mu.Lock()
	g.refused[tok] = true
	g.mu.Unlock()
}

// requests returns what the server received so far and forgets it.
func (g *gitServer) requests() []gitRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.seen
	g.seen = nil
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
