package session

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// TestThousandCallersOneRefresh: 1,000 goroutines call Token across an
// expiry while the endpoint fails three times and then recovers. Exactly
// one request is in flight at any time, every caller gets a token, and
// (synctest checks) no goroutine outlives the session.
func TestThousandCallersOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.Latency = 50 * time.Millisecond
		fe.SetFault(fault{Kind: "status", Status: 502}, 3)
		s, _ := newTestSession(t, fe, WithFailFast(false))
		time.Sleep(time.Hour - time.Second)
		var wg sync.WaitGroup
		var failures, calls atomic.Int64
		for range 1000 {
			wg.Go(func() {
				for range 10 {
					calls.Add(1)
					if _, err := s.Token(context.Background()); err != nil {
						failures.Add(1)
					}
					time.Sleep(500 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		s.Close()
		reqs, successes, maxInFlight := fe.Stats()
		if maxInFlight != 1 {
			t.Errorf("%d requests in flight at once, want 1", maxInFlight)
		}
		if reqs != 4 || successes != 1 {
			t.Errorf("%d requests, %d successes; want 3 failures and 1 success", reqs, successes)
		}
		if failures.Load() != 0 || calls.Load() != 10000 {
			t.Errorf("%d of %d calls failed", failures.Load(), calls.Load())
		}
	})
}

// TestOutageTrafficVsOAuth2 runs 20 goroutines calling Token every 10ms
// through a 3s outage of the token endpoint, once on a Session and once on
// golang.org/x/oauth2's ReuseTokenSource, in virtual time. Both tokens need
// refreshing when the outage starts (x/oauth2 refreshes 10s before expiry).
func TestOutageTrafficVsOAuth2(t *testing.T) {
	const (
		callers = 20
		every   = 10 * time.Millisecond
		run     = 8 * time.Second
	)
	outageFrom, outageTo := 1*time.Second, 4*time.Second
	type result struct {
		requests, errors int
		recovered        time.Duration // first success after the outage, from its end
		bound            time.Duration // authfsm only: the policy's bound
	}
	// drive calls token from callers goroutines every 10ms for the run.
	drive := func(start time.Time, token func() error) (errs int, recovered time.Duration) {
		var mu sync.Mutex
		recovered = -1
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for time.Since(start) < run {
					err := token()
					mu.Lock()
					if err != nil {
						errs++
					} else if at := time.Since(start); at >= outageTo && recovered < 0 {
						recovered = at - outageTo
					}
					mu.Unlock()
					time.Sleep(every)
				}
			})
		}
		wg.Wait()
		return errs, recovered
	}

	var ours, theirs, margin result
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		fe := newFakeEndpoint(time.Hour)
		fe.OutageFrom, fe.OutageTo = start.Add(outageFrom), start.Add(outageTo)
		c := testClient(t, fe, testEndpoint{})
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: start.Add(outageFrom)}
		pol := policy.Default()
		s, err := New(context.Background(), c, initial, WithPolicy(pol), WithSeed(42), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// The policy's bound at the outage's end: the retry then pending is
		// due within its delay, and then takes at most one request.
		go func() {
			time.Sleep(outageTo)
			st := s.Status()
			ours.bound = st.NextAt.Sub(start.Add(outageTo)) + states.DefaultRequestTimeout
			// The pending delay itself must be one the policy can choose for
			// this attempt (full jitter: at most the exponential ceiling).
			ceiling := time.Duration(float64(pol.Initial) * float64(int(1)<<(st.Attempt-1)))
			if st.Attempt < 1 || st.NextAt.Sub(start.Add(outageTo)) > ceiling {
				t.Errorf("at the outage's end: attempt %d, next at +%v; the policy allows at most %v", st.Attempt, st.NextAt.Sub(start.Add(outageTo)), ceiling)
			}
		}()
		ours.errors, ours.recovered = drive(start, func() error {
			_, err := s.Token(context.Background())
			return err
		})
		ours.requests, _, _ = fe.Stats()
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		fe := newFakeEndpoint(time.Hour)
		fe.OutageFrom, fe.OutageTo = start.Add(outageFrom), start.Add(outageTo)
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: fe})
		// AuthStyleInHeader: with the default auto-detection x/oauth2 sends a
		// second request per failure (body auth), which would double its count.
		conf := &oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Endpoint: oauth2.Endpoint{TokenURL: testURL, AuthStyle: oauth2.AuthStyleInHeader}}
		// x/oauth2 treats a token as expired 10s early.
		initial := &oauth2.Token{AccessToken: "tok-access-0", RefreshToken: "tok-refresh-0", Expiry: start.Add(outageFrom + 10*time.Second)}
		// Config.TokenSource is oauth2.ReuseTokenSource over x/oauth2's refresher.
		src := conf.TokenSource(ctx, initial)
		theirs.errors, theirs.recovered = drive(start, func() error {
			_, err := src.Token()
			var re *oauth2.RetrieveError
			if err != nil && !errors.As(err, &re) {
				t.Errorf("x/oauth2: unexpected error %v", err)
			}
			return err
		})
		theirs.requests, _, _ = fe.Stats()
	})

	// The same outage with the default refresh-ahead margin: the refresh
	// happens at half the token's life, before the outage, and no call fails.
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		fe := newFakeEndpoint(time.Hour)
		fe.OutageFrom, fe.OutageTo = start.Add(outageFrom), start.Add(outageTo)
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: start.Add(outageFrom)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithSeed(42))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		margin.errors, _ = drive(start, func() error {
			_, err := s.Token(context.Background())
			return err
		})
		margin.requests, _, _ = fe.Stats()
	})
	if margin.errors != 0 || margin.requests != 1 {
		t.Errorf("with the default margin: %d failed calls, %d token requests; want 0 and 1", margin.errors, margin.requests)
	}
	t.Logf("authfsm:  %5d token requests, %5d failed calls, recovered %v after the outage (bound %v)", ours.requests, ours.errors, ours.recovered, ours.bound)
	t.Logf("x/oauth2: %5d token requests, %5d failed calls, recovered %v after the outage", theirs.requests, theirs.errors, theirs.recovered)
	if ours.requests*100 >= theirs.requests {
		t.Errorf("authfsm sent %d token requests, x/oauth2 %d: want fewer than 1/100", ours.requests, theirs.requests)
	}
	if ours.recovered < 0 || ours.recovered > ours.bound {
		t.Errorf("authfsm recovered %v after the outage, want within the policy's bound %v", ours.recovered, ours.bound)
	}
}
