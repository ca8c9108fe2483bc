package agent

import (
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/session"
)

func TestAdvertised(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name                       string
		issued, serveUntil, expiry time.Duration // after t0; -1 for none
		want                       time.Duration
	}{
		{"refresh point an hour away", 0, 55 * time.Minute, time.Hour, 55*time.Minute - Handover},
		{"no refresh planned: the expiry", 0, time.Hour, time.Hour, time.Hour - Handover},
		{"a short token: half its serving time", 0, 1500 * time.Millisecond, 2 * time.Second, 750 * time.Millisecond},
		{"a refresh in flight: already past", 0, 10 * time.Minute, time.Hour, 10*time.Minute - Handover},
		{"served at once: no handover", 0, 0, time.Hour, 0},
		{"no ServeUntil: the expiry", 0, -1, time.Hour, time.Hour - Handover},
		{"unknown issue: no handover", -1, 55 * time.Minute, time.Hour, 55 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := func(d time.Duration) time.Time {
				if d < 0 {
					return time.Time{}
				}
				return t0.Add(d)
			}
			tok := session.Token{Access: "a", Issued: at(tc.issued), ServeUntil: at(tc.serveUntil), Expiry: at(tc.expiry)}
			if got := advertised(tok); !got.Equal(t0.Add(tc.want)) {
				t.Errorf("advertised = t0%+v, want t0%+v", got.Sub(t0), tc.want)
			}
		})
	}
}

// TestHandover: a client that asks for the token within the Handover
// before the session's refresh point waits for the refresh and gets the
// new token, which a server that revokes the previous access token at a
// refresh accepts; expires_at is the instant the agent stops handing a
// token out, token_expires_at the token's expiry. When the refresh is
// slower than the handover plus request_timeout, the still-valid token is
// served, advertised until an instant already past.
func TestHandover(t *testing.T) {
	release := make(chan struct{}, 8)
	var hold atomic.Bool
	ts := newTokenServer(t, func(n int, w http.ResponseWriter) {
		if hold.Load() && n > 2 {
			<-release
		}
		issue(n, w)
	})
	t.Cleanup(func() { close(release) })
	mock := clock.NewMock()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	mock.Set(t0)
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	e := startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
    session: {refresh_ahead: 5m, request_timeout: 10s, wait_for_refresh: 30s}
`, Options{Clock: mock})
	c := unixClient(filepath.Join(dir, "api.sock"))
	ask := func() <-chan TokenResponse {
		ch := make(chan TokenResponse, 1)
		go func() {
			code, _, body := get(t, c, "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"})
			if code != http.StatusOK {
				t.Errorf("/v1/token: %d %s", code, body)
			}
			ch <- decode[TokenResponse](t, body)
		}()
		return ch
	}
	p := e.a.profile("api")
	// waiting returns once n requests have begun waiting for a handover.
	waiting := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for p.n.handovers.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests waiting for the handover, want %d", p.n.handovers.Load(), n)
			}
			time.Sleep(time.Millisecond) // polls a counter; nothing is synchronised by it
		}
	}

	first := <-ask()
	if first.AccessToken != "access-1" || !first.TokenExpiresAt.Equal(t0.Add(time.Hour)) ||
		!first.ExpiresAt.Equal(t0.Add(55*time.Minute-Handover)) {
		t.Fatalf("first token %+v; want access-1 expiring at t0+1h, advertised until t0+55m-%v", first, Handover)
	}

	// Half a second before the refresh point: the request waits for it.
	mock.Add(55*time.Minute - 500*time.Millisecond)
	answer := ask()
	waiting(1)
	select {
	case tok := <-answer:
		t.Fatalf("served %s within the handover, before the refresh", tok.AccessToken)
	default:
	}
	mock.Add(500 * time.Millisecond) // the refresh point: the session refreshes
	second := <-answer
	if second.AccessToken != "access-2" || !second.ExpiresAt.Equal(t0.Add(110*time.Minute-Handover)) {
		t.Errorf("within the handover: %+v; want access-2 advertised until t0+1h50m-%v", second, Handover)
	}

	// A refresh that does not end: after the handover and request_timeout
	// the still-valid token is served, advertised until an instant past.
	hold.Store(true)
	mock.Add(55*time.Minute - 500*time.Millisecond)
	answer = ask()
	waiting(2)
	mock.Add(500 * time.Millisecond) // the refresh starts and hangs
	waitFor(t, func() bool { return ts.requests() == 3 })
	mock.Add(Handover + 10*time.Second)
	late := <-answer
	if late.AccessToken != "access-2" || !late.ExpiresAt.Before(mock.Now()) || (late.State != "refreshing" && late.State != "backoff") {
		t.Errorf("after the wait ran out: %+v at t0+%v; want access-2 advertised until an instant past, refreshing (or backoff, the request timed out)", late, mock.Now().Sub(t0))
	}
	release <- struct{}{}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond) // polls; nothing is synchronised by it
	}
}
