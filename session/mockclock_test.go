package session

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// TestRefreshAheadOnMockClock drives the session's one timer with a
// clock.Mock: nothing happens until the refresh-ahead point, then one
// refresh, and the next timer is armed for the new token's refresh point.
func TestRefreshAheadOnMockClock(t *testing.T) {
	mock := clock.NewMock()
	mock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	start := mock.Now()
	recs := make(chan audit.Record, 16)
	fe := newFakeEndpoint(time.Hour)
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
	s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithClock(mock), WithSeed(1),
		WithRefreshAhead(10*time.Minute), WithAudit(audit.SinkFunc(func(r audit.Record) error { recs <- r; return nil })))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Status().NextAt; !got.Equal(start.Add(50 * time.Minute)) {
		t.Fatalf("first wake-up at %v, want the refresh-ahead point %v", got, start.Add(50*time.Minute))
	}
	mock.Add(49 * time.Minute)
	if reqs, _, _ := fe.Stats(); reqs != 0 {
		t.Fatalf("%d requests before the refresh-ahead point", reqs)
	}
	mock.Add(time.Minute) // fires the timer; the refresh runs in its own goroutine
	var got []string
	for r := range recs {
		got = append(got, r.Event.String()+" "+r.To.String()+" at +"+r.Time.Sub(start).String())
		if r.To == states.Valid {
			break
		}
	}
	want := []string{"refresh_ahead refreshing at +50m0s", "succeed valid at +50m0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	st := s.Status()
	if !st.Expiry.Equal(start.Add(110*time.Minute)) || !st.NextAt.Equal(start.Add(100*time.Minute)) {
		t.Errorf("after the refresh: expiry +%v, next wake-up +%v; want +1h50m and +1h40m", st.Expiry.Sub(start), st.NextAt.Sub(start))
	}
}

// TestMockClockJumpPastRequestInFlight moves a mock clock an hour past a
// refresh whose request a real HTTP server is still answering: the request
// still gets real time to be answered, so the session takes its pair
// instead of failing it and every retry the jump schedules (issue: 11
// attempts burned in one Add, and every caller failed).
func TestMockClockJumpPastRequestInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default: // the test waits for the first request only
		}
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"acc-%d","refresh_token":"ref-%d","token_type":"Bearer","expires_in":3600}`, i, i)
	}))
	defer srv.Close()
	c := testClient(t, nil, testEndpoint{TokenURL: srv.URL, ClientID: "app", ClientSecret: "app-secret", HTTPClient: srv.Client()})
	mock := clock.NewMock()
	mock.Set(time.Now())
	start := mock.Now()
	recs := make(chan audit.Record, 64)
	initial := Token{Access: "acc-0", Refresh: "ref-0", Issued: start, Expiry: start.Add(time.Hour)}
	s, err := New(context.Background(), c, initial, WithClock(mock), WithSeed(1), WithRefreshAhead(10*time.Minute),
		WithRequestTimeout(10*time.Second),
		WithAudit(audit.SinkFunc(func(r audit.Record) error {
			select {
			case recs <- r:
			default: // only the first records matter; never block Close
			}
			return nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mock.Add(50 * time.Minute) // the refresh-ahead point: the request goes out
	<-arrived
	mock.Add(time.Hour) // far past the request's timeout, on the mock clock
	close(release)
	var got []string
	for r := range recs {
		got = append(got, r.Event.String()+" "+r.To.String())
		if r.To != states.Refreshing {
			break
		}
	}
	if want := []string{"refresh_ahead refreshing", "succeed valid"}; !cmp.Equal(want, got) {
		t.Errorf("transitions %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestMockClockHungServerTimesOut checks the other side of the real-time
// grace: a server that never answers still fails the attempt once the mock
// clock passed the request's timeout and the grace's real time went by.
func TestMockClockHungServerTimesOut(t *testing.T) {
	arrived := make(chan struct{}, 1)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // never answers
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	c := testClient(t, nil, testEndpoint{TokenURL: srv.URL, ClientID: "app", ClientSecret: "app-secret", HTTPClient: srv.Client()})
	mock := clock.NewMock()
	mock.Set(time.Now())
	start := mock.Now()
	recs := make(chan audit.Record, 16)
	initial := Token{Access: "acc-0", Refresh: "ref-0", Issued: start, Expiry: start.Add(time.Hour)}
	s, err := New(context.Background(), c, initial, WithClock(mock), WithSeed(1), WithRefreshAhead(10*time.Minute),
		WithRequestTimeout(10*time.Second),
		WithAudit(audit.SinkFunc(func(r audit.Record) error {
			select {
			case recs <- r:
			default:
			}
			return nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mock.Add(50 * time.Minute)
	<-arrived
	mock.Add(10 * time.Second) // the timeout, on the mock clock
	for r := range recs {
		if r.To == states.Refreshing {
			continue
		}
		if r.Event != states.Fail || r.To != states.Backoff {
			t.Errorf("after the timeout: %v → %v, want fail → backoff", r.Event, r.To)
		}
		break
	}
}

// TestServeUntil checks what Token and TokenSource advertise: the instant
// the session plans to replace the token (its refresh point), not the
// token's expiry, so a caller that caches until then never sends a token
// that the refresh revoked (kubectl cached a token until its expiry and got
// 401 from a server that revokes the previous access token at a refresh).
func TestServeUntil(t *testing.T) {
	mock := clock.NewMock()
	mock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	start := mock.Now()
	fe := newFakeEndpoint(time.Hour)
	installed := make(chan struct{}, 4)
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
	s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithClock(mock), WithSeed(1),
		WithRefreshAhead(10*time.Minute), WithHooks(hooks.Hooks{TokenInstalled: func(hooks.TokenInstalled) { installed <- struct{}{} }}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(when string, want, wantExpiry time.Time) {
		t.Helper()
		tok, err := s.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !tok.ServeUntil.Equal(want) || !tok.Expiry.Equal(wantExpiry) {
			t.Errorf("%s: ServeUntil +%v, Expiry +%v; want +%v, +%v", when, tok.ServeUntil.Sub(start), tok.Expiry.Sub(start),
				want.Sub(start), wantExpiry.Sub(start))
		}
		ot, err := s.TokenSource(context.Background()).Token()
		if err != nil {
			t.Fatal(err)
		}
		if !ot.Expiry.Equal(want) {
			t.Errorf("%s: TokenSource's Expiry +%v, want the refresh point +%v", when, ot.Expiry.Sub(start), want.Sub(start))
		}
	}
	check("first token", start.Add(50*time.Minute), start.Add(time.Hour))
	mock.Add(50 * time.Minute)
	<-installed
	check("after the refresh", start.Add(100*time.Minute), start.Add(110*time.Minute))
}
