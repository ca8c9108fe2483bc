package integration

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// TestConcurrentCallersRealServer: 200 goroutines call the resource through
// nginx across the access token's expiry. Exactly one refresh reaches fosite
// (counted by the server), fosite never sees a reused refresh token, and no
// call fails. (A call that races the rotation carries the old token, which
// fosite revokes on rotation; the Transport replays it after the 401. How
// many did is logged.)
func TestConcurrentCallersRealServer(t *testing.T) {
	const (
		callers  = 200
		lifetime = 600 * time.Millisecond
		every    = 100 * time.Millisecond
		after    = 700 * time.Millisecond // how long the calls go on after expiry
	)
	e := newEnv(t, tokenserver.Config{}, nginx.Config{})
	initial, _ := e.login(t, lifetime)
	tokens := newTokenCounter()
	s, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, tokens), initial, "concurrent")
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = callers
	hc := &http.Client{Transport: &session.Transport{Session: s, Base: base}, Timeout: 5 * time.Second}
	t.Cleanup(base.CloseIdleConnections)

	var (
		wg            sync.WaitGroup
		calls, failed atomic.Int64
		firstErr      atomic.Value
	)
	end := initial.Expiry.Add(after)
	for range callers {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for time.Now().Before(end) {
				status, err := get(t.Context(), hc, e.resourceURL())
				calls.Add(1)
				if status != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, [2]any{status, err})
				}
				<-tick.C
			}
		})
	}
	wg.Wait()

	counts := e.srv.Counts()
	t.Logf("%d calls by %d goroutines, %d failed; %d answered 401 by the resource (old token, replayed by the Transport)",
		calls.Load(), callers, failed.Load(), counts.ResourceRejected)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d calls failed; first: %v", n, firstErr.Load())
	}
	if got := counts.Grants["refresh_token"]; got != 1 {
		t.Errorf("fosite received %d refreshes, want exactly 1", got)
	}
	if counts.Reuse != 0 {
		t.Errorf("fosite saw %d reused refresh tokens", counts.Reuse)
	}
	if got := len(tokens.requests()); got != 1 {
		t.Errorf("the session sent %d token requests, want 1", got)
	}
	checkAudit(t, mem, append(expiryStart[:2:2], "refreshing→valid succeed"))
}
