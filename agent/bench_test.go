package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The agent against its floors, measured in one run on loopback (go test
// -run '^$' -bench . -benchtime 20000x ./agent; docs/performance.md gives
// the figures):
//
//   - BenchmarkProxyLoad: the proxy beside a bare httputil.ReverseProxy
//     tuned the same way, to the same upstream, each driven by
//     loadClients keep-alive clients; goals: p50 and p99 latency at most
//     1.2× the floor's, throughput at least 0.85× of it.
//   - BenchmarkTokenLoad: GET /v1/token beside a bare handler returning a
//     fixed token's JSON; goal: throughput at least 0.8× of it.
//   - BenchmarkProxyAllocs and BenchmarkTokenAllocs: the allocations of one
//     request, served by the handler alone.

// benchIdleConns is how many idle connections the floor keeps to its
// upstream: the agent's default.
const benchIdleConns = DefaultMaxIdleConns

// benchConfig is a client_credentials profile whose token lasts an hour,
// its proxy and the API on loopback TCP.
const benchConfig = `listen: 127.0.0.1:0
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: {{dir}}/secret
    grant: client_credentials
    session: {policy: {kind: constant, initial: 1h, jitter: none}}
    proxy:
      listen: 127.0.0.1:0
      upstream: UPSTREAM
`

// benchAgent starts the agent of benchConfig against upstream, with a
// token ready.
func benchAgent(b testing.TB, upstream *url.URL) *env {
	b.Helper()
	ts := newTokenServer(b, issue)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cr3t\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	e := startAgent(b, dir, ts, strings.Replace(benchConfig, "UPSTREAM", upstream.String(), 1),
		Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := e.a.Session("api").Token(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

// handler returns what the agent serves on the API (name "") or a
// profile's proxy (its name).
func (e *env) handler(name string) http.Handler {
	for _, s := range e.a.servers {
		if s.name == name {
			return s.srv.Handler
		}
	}
	return nil
}

// tokenHeader is what a client of /v1/token sends.
var tokenHeader = http.Header{TokenRequestHeader: {"1"}}

// bareToken is the floor of /v1/token: a handler that returns a fixed
// token's JSON with the agent's headers, doing nothing else.
func bareToken() http.Handler {
	now := time.Now().UTC()
	fixed := TokenResponse{AccessToken: "access-1", TokenType: "Bearer", ExpiresAt: now.Add(time.Hour),
		TokenExpiresAt: now.Add(time.Hour), State: "valid"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(fixed)
	})
}

func BenchmarkProxyLoad(b *testing.B) {
	up := rawUpstream(b)
	e := benchAgent(b, up)
	bare := serveLoopback(b, bareProxy(up, benchIdleConns))
	compare(b,
		newLoadSide(b, "agent", "http://"+e.a.Addr("api").String()+"/v1/items", nil),
		newLoadSide(b, "bare", "http://"+bare+"/v1/items", nil))
}

func BenchmarkTokenLoad(b *testing.B) {
	e := benchAgent(b, rawUpstream(b))
	bare := serveLoopback(b, bareToken())
	compare(b,
		newLoadSide(b, "agent", "http://"+e.a.Addr("").String()+"/v1/token", tokenHeader),
		newLoadSide(b, "bare", "http://"+bare+"/v1/token", tokenHeader))
}

// sinkWriter is a ResponseWriter that keeps the status only.
type sinkWriter struct {
	h      http.Header
	status int
}

func (w *sinkWriter) Header() http.Header         { return w.h }
func (w *sinkWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *sinkWriter) WriteHeader(code int)        { w.status = code }

// serveAllocs serves req with h b.N times and reports the allocations of
// one request.
func serveAllocs(b *testing.B, h http.Handler, req *http.Request) {
	w := &sinkWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = http.StatusOK
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func BenchmarkProxyAllocs(b *testing.B) {
	up := rawUpstream(b)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8181/v1/items", nil)
	b.Run("agent", func(b *testing.B) { serveAllocs(b, benchAgent(b, up).handler("api"), req) })
	b.Run("bare", func(b *testing.B) { serveAllocs(b, bareProxy(up, benchIdleConns), req) })
}

func BenchmarkTokenAllocs(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8180/v1/token", nil)
	req.Header = tokenHeader
	b.Run("agent", func(b *testing.B) { serveAllocs(b, benchAgent(b, rawUpstream(b)).handler(""), req) })
	b.Run("bare", func(b *testing.B) { serveAllocs(b, bareToken(), req) })
}
