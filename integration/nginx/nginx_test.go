package nginx

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// backend answers /ok at once and /slow after 2s (or when the client leaves).
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	Status      int
	RetryAfter  string
	ContentType string
	Body        string // the body's <title>, or the whole body when it has none
}

func get(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if _, rest, ok := strings.Cut(body, "<title>"); ok {
		body, _, _ = strings.Cut(rest, "</title>")
	}
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body}
}

// TestProxyAnswers walks nginx through every answer the suite relies on, in
// one run, and checks the access log nginx kept of it.
func TestProxyAnswers(t *testing.T) {
	be := backend(t)
	res := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "resource ok") }))
	t.Cleanup(res.Close)
	p := Start(t, Config{Backend: be.Listener.Addr().String(), Resource: res.Listener.Addr().String(),
		ProxyReadTimeout: 300 * time.Millisecond, RetryAfter: 2})
	html := "text/html"
	steps := []struct {
		name   string
		before func() error
		path   string
		want   answer
	}{
		{"proxied", nil, "/ok", answer{200, "", "text/plain; charset=utf-8", "backend ok"}},
		{"backend slower than proxy_read_timeout", nil, "/slow", answer{504, "", html, "504 Gateway Time-out"}},
		{"resource server", nil, "/resource", answer{200, "", "text/plain; charset=utf-8", "resource ok"}},
		{"rate limited", func() error { return p.SetRateLimited(true) }, "/ok", answer{429, "2", html, "429 Too Many Requests"}},
		{"resource server not rate limited", nil, "/resource", answer{200, "", "text/plain; charset=utf-8", "resource ok"}},
		{"rate limit lifted", func() error { return p.SetRateLimited(false) }, "/ok", answer{200, "", "text/plain; charset=utf-8", "backend ok"}},
		{"backend down", func() error { be.Close(); return nil }, "/ok", answer{502, "", html, "502 Bad Gateway"}},
		{"resource server up while the backend is down", nil, "/resource", answer{200, "", "text/plain; charset=utf-8", "resource ok"}},
	}
	for _, s := range steps {
		if s.before != nil {
			if err := s.before(); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(s.want, get(t, p.URL()+s.path)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	want := []string{
		"GET /ok 200 upstream 200",
		"GET /slow 504 upstream 504",
		"GET /resource 200 upstream 200",
		"GET /ok 429 upstream -",
		"GET /resource 200 upstream 200",
		"GET /ok 200 upstream 200",
		"GET /ok 502 upstream 502",
		"GET /resource 200 upstream 200",
	}
	// nginx writes a log line after it has sent the answer: poll.
	var log []LogEntry
	for deadline := time.Now().Add(5 * time.Second); len(log) < len(want) && time.Now().Before(deadline); {
		var err error
		if log, err = p.AccessLog(); err != nil {
			t.Fatal(err)
		}
		<-time.After(5 * time.Millisecond)
	}
	var got []string
	for _, e := range log {
		got = append(got, fmt.Sprintf("%s %s %d upstream %s", e.Method, e.Path, e.Status, e.Upstream))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
}

func TestStopByPID(t *testing.T) {
	p := Start(t, Config{Backend: backend(t).Listener.Addr().String()})
	// nginx opens its listener before it writes the pid file: poll.
	var pidFile []byte
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; <-time.After(5 * time.Millisecond) {
		if pidFile, err = os.ReadFile(filepath.Join(p.Dir(), "nginx.pid")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(pidFile)); got != fmt.Sprint(p.PID()) {
		t.Fatalf("pid file says %s, started %d: nginx daemonised?", got, p.PID())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("nginx still running after Stop")
	}
	if err := syscall.Kill(-p.PID(), 0); err == nil {
		t.Error("a process of nginx's group survived Stop")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("port still accepts after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestLaunchReportsNginxErrors(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no backend", Config{}, "nginx: Config.Backend is empty"},
		{"unresolvable backend", Config{Backend: "no-such-host.invalid:1"}, "host not found in upstream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Launch(t.TempDir(), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Launch: %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}

func TestConfigGolden(t *testing.T) {
	for _, c := range []struct {
		root     bool
		resource string
		headers  map[string]string
	}{{false, "", nil}, {true, "127.0.0.1:9191", map[string]string{"X-Forwarded-For": "$proxy_add_x_forwarded_for", "Via": "1.1 relay"}}} {
		root := c.root
		t.Run(fmt.Sprintf("root=%t", root), func(t *testing.T) {
			var b strings.Builder
			err := confTemplate.Execute(&b, confData{
				Root: root, Dir: "/tmp/harness", Listen: "127.0.0.1:8080", Backend: "127.0.0.1:9090", Resource: c.resource,
				Marker: rateLimitMarker, RetryAfter: 2, ConnectTimeout: time.Second,
				ReadTimeout: 1500 * time.Millisecond, ExtraTemp: []string{"fastcgi", "scgi"}, SetHeaders: c.headers,
			})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", fmt.Sprintf("nginx-root-%t.conf", root))
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("nginx.conf (-golden +got):\n%s", diff)
			}
		})
	}
}

func TestWriteConfigRejectsUnsafeDir(t *testing.T) {
	if _, err := writeConfig("nginx", "/tmp/a dir;", "127.0.0.1:1", Config{}); err == nil ||
		!strings.Contains(err.Error(), "cannot hold unquoted") {
		t.Fatalf("writeConfig: %v", err)
	}
	if _, err := writeConfig("nginx", t.TempDir(), "127.0.0.1:1", Config{ProxySetHeaders: map[string]string{"X-A": `x"; return 200;`}}); err == nil ||
		!strings.Contains(err.Error(), "cannot be written into nginx.conf") {
		t.Fatalf("writeConfig: %v", err)
	}
}

func TestParseLogLine(t *testing.T) {
	for _, c := range []struct {
		line    string
		want    LogEntry
		wantErr bool
	}{
		{line: `1700000000.250 502 "502" POST /oauth2/token`,
			want: LogEntry{At: time.Unix(1700000000, 250e6), Status: 502, Upstream: "502", Method: "POST", Path: "/oauth2/token"}},
		{line: `1700000000.000 429 "-" GET /`,
			want: LogEntry{At: time.Unix(1700000000, 0), Status: 429, Upstream: "-", Method: "GET", Path: "/"}},
		{line: `1700000000.000 429 GET /`, wantErr: true},
		{line: `x.000 429 "-" GET /`, wantErr: true},
	} {
		got, err := parseLogLine(c.line)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: error %v, want error %t", c.line, err, c.wantErr)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.line, diff)
		}
	}
}

// fakeTB records how Start ended the test without ending the real one.
type fakeTB struct {
	testing.TB
	how string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.how = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.how = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingNginx: without nginx a test skips, or fails when CI requires
// nginx.
func TestMissingNginx(t *testing.T) {
	t.Setenv(BinaryEnv, "/nonexistent/nginx")
	for _, c := range []struct {
		require string
		want    string
	}{
		{"", "skip: skipping: nginx: not installed"},
		{"1", "fatal: nginx: not installed"},
	} {
		t.Setenv(RequireEnv, c.require)
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(f, Config{Backend: "127.0.0.1:1"})
		}()
		<-done
		if !strings.HasPrefix(f.how, c.want) {
			t.Errorf("%s=%q: Start ended with %q, want prefix %q", RequireEnv, c.require, f.how, c.want)
		}
	}
}
