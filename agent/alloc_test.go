package agent

import (
	"math"
	"net/http"
	"runtime"
	"testing"
)

// allocsPerRequest returns the allocations and bytes allocated by serving
// req with h, on average over 200 requests after one to warm up.
func allocsPerRequest(t *testing.T, h http.Handler, req *http.Request) (allocs, bytes float64) {
	t.Helper()
	w := &sinkWriter{h: http.Header{}}
	serve := func() {
		clear(w.h)
		w.status = http.StatusOK
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			t.Fatalf("status %d", w.status)
		}
	}
	serve()
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		serve()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs
}

// TestProxyAllocations: a proxied request costs what a bare
// httputil.ReverseProxy's does (tuned the same way), plus the Authorization
// header (its value and its slice): the request is copied once, by the
// reverse proxy, the copy buffer comes from a pool and a ready token is
// taken without the contexts of a wait.
func TestProxyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	up := rawUpstream(t)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8181/v1/items", nil)
	agent, agentBytes := allocsPerRequest(t, benchAgent(t, up).handler("api"), req)
	bare, bareBytes := allocsPerRequest(t, bareProxy(up, DefaultMaxIdleConns), req)
	// And one for the timer net/http's transport makes now and then.
	if agent > bare+3 {
		t.Errorf("%v allocations per proxied request, want at most %v (the bare proxy's %v, the header's 2, and 1)", agent, bare+3, bare)
	}
	if agentBytes > bareBytes+1024 {
		t.Errorf("%.0f bytes allocated per proxied request, want at most 1 KiB more than the bare proxy's %.0f", agentBytes, bareBytes)
	}
}

// TestTokenAllocations: GET /v1/token costs what a bare handler returning
// the same JSON does: the token and its state come from what Token's fast
// path holds (no lock, no fingerprint), and routing it costs nothing.
func TestTokenAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8180/v1/token", nil)
	req.Header = tokenHeader
	agent, _ := allocsPerRequest(t, benchAgent(t, rawUpstream(t)).handler(""), req)
	// Rounded: a goroutine of the agent's may allocate during the runs.
	if bare, _ := allocsPerRequest(t, bareToken(), req); math.Round(agent) > math.Round(bare) {
		t.Errorf("%v allocations per GET /v1/token, want at most the bare handler's %v", agent, bare)
	}
}
