package agent

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestProxyKeepsUpstreamConnections: 16 keep-alive clients at once reuse
// the proxy's upstream connections instead of opening one for most
// requests (Go's default transport keeps 2 idle connections per host).
func TestProxyKeepsUpstreamConnections(t *testing.T) {
	const clients, each = 16, 40
	var opened atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	e := startCC(t, newTokenServer(t, issue), &upstream{Server: up}, "")
	var wg sync.WaitGroup
	for range clients {
		c := unixClient(filepath.Join(e.dir, "api-proxy.sock"))
		wg.Go(func() {
			for range each {
				resp, err := c.Get("http://localhost/v1/items")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	// A connection per client, and at most as many more dialled while
	// another was being freed.
	if n := opened.Load(); n > 2*clients {
		t.Errorf("%d upstream connections for %d requests of %d clients, want at most %d", n, clients*each, clients, 2*clients)
	}
}

// TestProxyIdleConnsSetting: the proxy's transport keeps max_idle_conns
// idle connections to its upstream, DefaultMaxIdleConns without the key.
func TestProxyIdleConnsSetting(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  int
	}{
		{"", DefaultMaxIdleConns},
		{"      max_idle_conns: 7\n", 7},
	} {
		t.Run(strings.TrimSpace(tc.extra), func(t *testing.T) {
			e := startCC(t, newTokenServer(t, issue), newUpstream(t, false), tc.extra)
			tr := e.a.profile("api").upstream
			if tr == nil {
				t.Fatal("the proxy has no transport of its own")
			}
			if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.want {
				t.Errorf("MaxIdleConnsPerHost %d, MaxIdleConns %d; want %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
			}
		})
	}
}
