package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenServer is a token endpoint whose n-th answer (from 1) the test
// scripts; it records every request's form and Authorization header.
type tokenServer struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	auths  []string
	answer func(n int, w http.ResponseWriter)
}

func newTokenServer(t testing.TB, answer func(n int, w http.ResponseWriter)) *tokenServer {
	ts := &tokenServer{answer: answer}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		n := len(ts.forms)
		ts.mu.Unlock()
		ts.answer(n, w)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// requests returns how many token requests arrived.
func (ts *tokenServer) requests() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.forms)
}

func (ts *tokenServer) form(i int) url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[i]
}

// issue answers the n-th request with access-N (and refresh-N), valid for
// an hour.
func issue(n int, w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"access-%d","refresh_token":"refresh-%d","token_type":"Bearer","expires_in":3600}`, n, n)
}

// status answers with a proxy's error page.
func status(code int) func(int, http.ResponseWriter) {
	return func(_ int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		fmt.Fprintf(w, "<html><body>%d %s</body></html>", code, http.StatusText(code))
	}
}

// syncBuffer is a log destination safe for the sessions' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a running agent and what a test needs around it.
type env struct {
	a   *Agent
	dir string
	log *syncBuffer
}

// startAgent writes config (with {{dir}} for dir and {{token_url}} for
// ts's URL) to dir/agent.yaml, starts the agent and serves it until the
// test ends.
func startAgent(t testing.TB, dir string, ts *tokenServer, config string, opts Options) *env {
	t.Helper()
	e := &env{dir: dir, log: &syncBuffer{}}
	cfg, err := Parse(e.write(t, ts, config), []byte(e.expand(ts, config)))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the agent did not shut down")
		}
	})
	return e
}

func (e *env) expand(ts *tokenServer, config string) string {
	config = strings.ReplaceAll(config, "{{dir}}", e.dir)
	if ts != nil {
		config = strings.ReplaceAll(config, "{{token_url}}", ts.URL+"/token")
	}
	return config
}

func (e *env) write(t testing.TB, ts *tokenServer, config string) string {
	t.Helper()
	path := filepath.Join(e.dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(e.expand(ts, config)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// shortDir is t.TempDir, checked to leave room for a socket's name
// (a unix socket's path has at most 107 bytes; testing keeps the name of
// the directory short).
func shortDir(t *testing.T) string {
	dir := t.TempDir()
	if len(dir)+len("/api-proxy.sock") > 107 {
		t.Fatalf("temporary directory %s is too long for unix sockets", dir)
	}
	return dir
}

// unixClient sends every request to the socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
}

// get sends a GET with headers through c and returns the status, the
// headers and the body.
func get(t *testing.T, c *http.Client, u string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return v
}
