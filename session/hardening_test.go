package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// TestRejectionStormIsPaced: 4 callers for 2 s through Transport against an
// API that answers 401 to every token. Each refresh "succeeds", so without
// pacing every call fetched a new token (about 8,000 token requests); the
// rejection of a token obtained moments ago is a failed attempt that the
// default policy paces: fewer than 10 token requests, whatever the seed.
func TestRejectionStormIsPaced(t *testing.T) {
	for seed := range uint64(20) {
		synctest.Test(t, func(t *testing.T) {
			fe := newFakeEndpoint(time.Hour)
			initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(30 * time.Minute)}
			s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithSeed(seed))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp := respond(r, 401, "application/json", `{"error":"invalid_token"}`, "")
				resp.Header.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="audience mismatch"`)
				return resp, nil
			})
			hc := &http.Client{Transport: &Transport{Session: s, Base: api}}
			start := time.Now()
			var rejected, refreshErrs atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for time.Since(start) < 2*time.Second {
						resp, err := hc.Get("https://api.example/v1/items?key=k")
						var re *RefreshError
						switch {
						case errors.As(err, &re) && strings.Contains(re.Error(), "moments ago was rejected too"):
							refreshErrs.Add(1) // in backoff; it wraps the *RejectedError
							if !errors.Is(err, ErrTokenRejected) {
								t.Errorf("a refresh error after a rejection does not match ErrTokenRejected: %v", err)
							}
						case err != nil:
							t.Fatalf("unexpected error %v", err)
						case errors.Is(RejectionFrom(resp), ErrTokenRejected):
							rejected.Add(1) // the refreshed token was refused too
							fallthrough
						default:
							resp.Body.Close() // a 401, replayed or not
							if resp.StatusCode != 401 {
								t.Errorf("status %d, want 401", resp.StatusCode)
							}
						}
						time.Sleep(time.Millisecond)
					}
				})
			}
			wg.Wait()
			n, _, _ := fe.Stats()
			if n >= 10 || n < 2 {
				t.Errorf("seed %d: %d token requests in 2 s; want between 2 and 9", seed, n)
			}
			if rejected.Load() == 0 || refreshErrs.Load() == 0 {
				t.Errorf("seed %d: %d rejected errors, %d refresh errors: the callers were not told", seed, rejected.Load(), refreshErrs.Load())
			}
		})
	}
}

// TestRejectedErrorSaysWhy: the caller whose refreshed token is refused too
// gets the second 401 and its body, and RejectionFrom gives the status, the
// challenge and the next attempt, never the query.
func TestRejectedErrorSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe)
		defer s.Close()
		time.Sleep(time.Minute)
		api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp := respond(r, 401, "text/plain", "no", "")
			resp.Header.Set("WWW-Authenticate", "Bearer error=\"invalid_token\"\r\nX-Forged: 1")
			return resp, nil
		})
		req, _ := http.NewRequest(http.MethodGet, "https://api.example/v1?api_key=SECRET", nil)
		resp, err := (&Transport{Session: s, Base: api}).RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip error %v, want the 401", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || string(body) != "no" {
			t.Errorf("response %d %q, want the 401 as the server sent it", resp.StatusCode, body)
		}
		err = RejectionFrom(resp)
		want := `session: the resource server rejected a token issued moments ago too: 401 Unauthorized from https://api.example/v1 (WWW-Authenticate: Bearer error="invalid_token"X-Forged: 1); next refresh in 1s, paced by the retry policy`
		if err == nil || err.Error() != want {
			t.Fatalf("RejectionFrom\n got %v\nwant %s", err, want)
		}
		if _, err := s.Token(context.Background()); !errors.Is(err, ErrTokenRejected) || !errors.Is(s.Status().LastError, ErrTokenRejected) {
			t.Errorf("Token error %v, Status().LastError %v: want both to wrap the rejection", err, s.Status().LastError)
		}
	})
}

// TestAcceptedTokenEndsProbation: a token that the API accepts after a
// rejection's refresh is proven; a later rejection starts a new cycle at
// attempt 1 instead of pacing it.
func TestAcceptedTokenEndsProbation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe)
		defer s.Close()
		time.Sleep(time.Minute)
		var refuse atomic.Bool
		refuse.Store(true)
		api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if refuse.Swap(false) {
				return respond(r, 401, "text/plain", "no", ""), nil
			}
			return respond(r, 200, "text/plain", "ok", ""), nil
		})
		tr := &Transport{Session: s, Base: api}
		req, _ := http.NewRequest(http.MethodGet, "https://api.example/v1", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("RoundTrip = %v, %v", resp, err)
		}
		if st := s.Status(); st.State != states.Valid || st.Attempt != 0 {
			t.Fatalf("after the replay was accepted: %+v", st)
		}
	})
}

// TestTinyLifetimeIsPaced: a server answering expires_in 0.001 or 1e-6
// made an idle session refresh about 3,800 times a second; now the retry
// policy paces those refreshes (constant 1 s: at most one a second).
func TestTinyLifetimeIsPaced(t *testing.T) {
	for _, ttl := range []time.Duration{time.Millisecond, time.Microsecond} {
		synctest.Test(t, func(t *testing.T) {
			fe := newFakeEndpoint(ttl)
			s, mem := newTestSession(t, fe)
			defer s.Close()
			if err := s.SetToken(context.Background(), Token{Access: "short", Refresh: "tok-refresh-0", Expiry: time.Now().Add(ttl)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Second)
			n, ok, _ := fe.Stats()
			if n > 11 || ok < 5 {
				t.Fatalf("ttl %v: %d token requests (%d answered) in 10 s idle; want about one a second", ttl, n, ok)
			}
			if !strings.Contains(strings.Join(events(mem.Records()), "\n"), "below the 1s floor") {
				t.Errorf("the audit log does not say why: %v", events(mem.Records()))
			}
		})
	}
}

// TestDefaultRefreshAhead: without WithRefreshAhead a session refreshes
// states.DefaultRefreshAhead before expiry; WithRefreshAhead(0) turns it off.
func TestDefaultRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		exp := time.Now().Add(time.Hour)
		initial := Token{Access: "a", Refresh: "tok-refresh-0", Expiry: exp}
		for _, tc := range []struct {
			opts []Option
			want time.Time
		}{
			{nil, exp.Add(-states.DefaultRefreshAhead)},
			{[]Option{WithRefreshAhead(0)}, exp},
		} {
			s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Status().NextAt; !got.Equal(tc.want) {
				t.Errorf("next at %v, want %v", got, tc.want)
			}
			s.Close()
		}
	})
}

// sinkFunc adapts a function to audit.Sink.
type sinkFunc func(audit.Record) error

func (f sinkFunc) Write(r audit.Record) error { return f(r) }

// TestSinkMayCallTheSession: sinks run outside the session lock, in order,
// one at a time, and lose nothing: a sink that reads Status no longer hangs
// Token.
func TestSinkMayCallTheSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		var s *Session
		var mu sync.Mutex
		var seqs []uint64
		var inside atomic.Int32
		sink := sinkFunc(func(r audit.Record) error {
			if inside.Add(1) != 1 {
				t.Error("two sink calls at once")
			}
			defer inside.Add(-1)
			_ = s.Status() // would deadlock under the session lock
			mu.Lock()
			seqs = append(seqs, r.Seq)
			mu.Unlock()
			return nil
		})
		initial := Token{Access: "a", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)}
		var err error
		s, err = New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithAudit(sink), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range 20 {
					s.Token(context.Background())
					s.Reject("a")
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(seqs) < 3 {
			t.Fatalf("only %d records", len(seqs))
		}
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("records out of order or lost: %v", seqs)
			}
		}
	})
}

// TestCloseKeepsTheRotatedPair: Close while a refresh is in flight waits for
// its answer and saves the rotated pair, so the next process on the same
// store is not refused.
func TestCloseKeepsTheRotatedPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.Latency = 2 * time.Second
		store := &MemoryStore{}
		initial := Token{Access: "a", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithStore(store), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // the refresh is in flight
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := store.Load(context.Background())
		if err != nil || got.Refresh != "tok-refresh-1" {
			t.Fatalf("store after Close: %v, %v; want the rotated refresh token", got.Refresh.Reveal(), err)
		}
		if _, err := s.Token(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Token after Close = %v", err)
		}
		// The next process resumes from the store and refreshes.
		s2, err := New(context.Background(), testClient(t, fe, testEndpoint{}), Token{}, WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		time.Sleep(time.Hour)
		if st := s2.Status(); st.State == states.Revoked {
			t.Fatalf("the next process was refused: %s", st.Cause)
		}
	})
}

// TestShutdownDeadline: Shutdown's context bounds the wait for a hanging
// refresh, which it then abandons.
func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "hang"}, 0)
		s, _ := newTestSession(t, fe)
		s.SetToken(context.Background(), Token{Access: "a", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)})
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Shutdown took %v, want its deadline, 1s", d)
		}
	})
}

// flakyStore fails its first n saves.
type flakyStore struct {
	MemoryStore
	mu    sync.Mutex
	fails int
}

func (f *flakyStore) Save(ctx context.Context, t Token) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.MemoryStore.Save(ctx, t)
}

// TestStoreFailureIsNeverSilent: a failed save of a rotated pair is logged at
// error level, shown in Status and retried until it succeeds.
func TestStoreFailureIsNeverSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		store := &flakyStore{fails: 3}
		var logs bytes.Buffer
		var logMu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), nil))
		initial := Token{Access: "a", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithStore(store), WithLogger(logger), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(1500 * time.Millisecond)
		if err := s.Status().StoreError; err == nil || err.Error() != "disk full" {
			t.Fatalf("StoreError = %v", err)
		}
		logMu.Lock()
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "disk full") {
			t.Errorf("log: %s", logs.String())
		}
		logMu.Unlock()
		time.Sleep(10 * time.Second) // retries at 1 s, 2 s, 4 s
		if err := s.Status().StoreError; err != nil {
			t.Fatalf("StoreError after the store recovered = %v", err)
		}
		if got, _ := store.Load(context.Background()); got.Refresh != "tok-refresh-1" {
			t.Fatalf("store holds %v", got)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRedirectKeepsTheToken: an http.Client follows redirects through the
// Transport; the token goes only to the original host (same scheme or an
// upgrade) or to an allowed one.
func TestRedirectKeepsTheToken(t *testing.T) {
	tests := []struct {
		name, from, to string
		allowed        []string
		want           bool
	}{
		{"same host", "https://api.example/a", "https://api.example/b", nil, true},
		{"same host, explicit default port", "https://api.example/a", "https://api.example:443/b", nil, true},
		{"other host", "https://api.example/a", "https://evil.example/b", nil, false},
		{"subdomain", "https://api.example/a", "https://x.api.example/b", nil, false},
		{"other port", "https://api.example/a", "https://api.example:8443/b", nil, false},
		{"downgrade to http", "https://api.example/a", "http://api.example/b", nil, false},
		{"upgrade to https", "http://api.example/a", "https://api.example/b", nil, true},
		{"upgrade to https on the same port", "http://localhost:8080/a", "https://localhost:8080/b", nil, true},
		{"upgrade to another port", "http://localhost:8080/a", "https://localhost:8443/b", nil, false},
		{"allowed host", "https://api.example/a", "https://cdn.example/b", []string{"cdn.example"}, true},
		{"allowed host and port", "https://api.example/a", "https://cdn.example:8443/b", []string{"cdn.example:8443"}, true},
		{"allowed host, wrong port", "https://api.example/a", "https://cdn.example:8443/b", []string{"cdn.example:443"}, false},
		{"allowed host, but a downgrade", "https://api.example/a", "http://cdn.example/b", []string{"cdn.example"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, _ := newTestSession(t, newFakeEndpoint(time.Hour))
				defer s.Close()
				var got string
				api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if r.URL.String() == tc.from {
						resp := respond(r, 302, "text/plain", "", "")
						resp.Header.Set("Location", tc.to)
						return resp, nil
					}
					got = r.Header.Get("Authorization")
					return respond(r, 200, "text/plain", "ok", ""), nil
				})
				hc := &http.Client{Transport: &Transport{Session: s, Base: api, AllowedHosts: tc.allowed}}
				resp, err := hc.Get(tc.from)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if (got != "") != tc.want {
					t.Errorf("redirect to %s carried Authorization %q; want a token: %v", tc.to, got, tc.want)
				}
			})
		})
	}
}

// TestSuccessLogSaysTheAttempt: the log line of a success names the attempt
// that succeeded (it said 0).
func TestSuccessLogSaysTheAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 2)
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s, _ := newTestSession(t, fe, WithLogger(logger), WithPolicy(policy.Constant{Wait: time.Second}))
		defer s.Close()
		time.Sleep(time.Hour + 5*time.Second)
		if !strings.Contains(logs.String(), `msg="session: token refreshed"`) || !strings.Contains(logs.String(), "attempt=3") {
			t.Fatalf("log:\n%s", logs.String())
		}
	})
}

// TestMisconfiguredClientSaysSo: invalid_client stops the session, and the
// error says the client is misconfigured and carries the server's
// description (it said "revoked: 401 invalid_client" and dropped it).
func TestMisconfiguredClientSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := testClient(t, nil, testEndpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "wrong-secret", HTTPClient: &http.Client{
			Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp := respond(r, 401, "application/json", `{"error":"invalid_client","error_description":"Client authentication failed"}`, "")
				resp.Header.Set("WWW-Authenticate", `Basic realm="auth"`)
				return resp, nil
			})}})
		s, err := New(context.Background(), c, Token{Refresh: "rt"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(time.Second)
		_, err = s.Token(context.Background())
		var re *RevokedError
		if !errors.As(err, &re) || !re.Misconfigured || !errors.Is(err, ErrMisconfigured) || !errors.Is(err, ErrRevoked) {
			t.Fatalf("Token = %v", err)
		}
		for _, want := range []string{"misconfigured", "401 invalid_client", "(Client authentication failed)", "check the client id"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Error("the secret leaked")
		}
	})
}

// TestProxyPagesNeverRevoke: a WAF's 403 block page for 250 ms, a CDN's 401
// page and a bare 401 challenge are transient; the session refreshes once
// they pass.
func TestProxyPagesNeverRevoke(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body, challenge, cause string
		status                              int
	}{
		{"WAF 403 page", "text/html", "<html><body>Request blocked by WAF</body></html>", "", "403 Forbidden without an OAuth2 error", 403},
		{"CDN 401 page", "text/html", "<html>Unauthorized</html>", "", "401 Unauthorized without an OAuth2 error", 401},
		{"bare 401 challenge", "", "", `Basic realm="ingress"`, "401 Unauthorized without an OAuth2 error (WWW-Authenticate: Basic)", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				blockUntil := time.Now().Add(250 * time.Millisecond)
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if time.Now().Before(blockUntil) {
						resp := respond(r, tc.status, tc.ctype, tc.body, "")
						if tc.challenge != "" {
							resp.Header.Set("WWW-Authenticate", tc.challenge)
						}
						return resp, nil
					}
					return fe.RoundTrip(r)
				})
				c := testClient(t, nil, testEndpoint{TokenURL: testURL, HTTPClient: &http.Client{Transport: rt}})
				mem := &audit.Memory{}
				s, err := New(context.Background(), c, Token{Refresh: "tok-refresh-0"}, WithAudit(mem),
					WithPolicy(policy.Constant{Wait: 100 * time.Millisecond}))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := s.Token(context.Background()); errors.Is(err, ErrRevoked) || err == nil {
					t.Fatalf("during the block: Token = %v, want a transient *RefreshError", err)
				}
				time.Sleep(time.Second)
				if _, err := s.Token(context.Background()); err != nil {
					t.Fatalf("after the block: %v", err)
				}
				synctest.Wait() // the outbox may still be delivering on the refresh goroutine
				if got := strings.Join(events(mem.Records()), "\n"); !strings.Contains(got, "fail: "+tc.cause) {
					t.Errorf("audit:\n%s\nwant a fail with %q", got, tc.cause)
				}
			})
		})
	}
}

// TestCustomRefresherErrorIsScrubbed: a Refresher whose error quotes the
// refresh token it presented does not get it printed by RefreshError or
// recorded in the audit log.
func TestCustomRefresherErrorIsScrubbed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rt = "rt-SECRET-0123456789"
		r := RefresherFunc(func(_ context.Context, cur Token) (Token, error) {
			return Token{}, errors.New("upstream said: bad token " + cur.Refresh.Reveal() + " (try again)")
		})
		mem := &audit.Memory{}
		s, err := New(context.Background(), r, Token{Refresh: rt}, WithAudit(mem))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(100 * time.Millisecond)
		_, err = s.Token(context.Background())
		if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "bad token [redacted] (try again)") {
			t.Fatalf("Token error %v", err)
		}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		for _, e := range events(mem.Records()) {
			if strings.Contains(e, "SECRET") {
				t.Fatalf("audit record leaks: %s", e)
			}
		}
	})
}

// TestShutdownDeadlineWithStuckRefresher: a Refresher that ignores its
// context (or a hook it calls that never returns) cannot hold Shutdown past
// its deadline; Shutdown says that the refresh did not end.
func TestShutdownDeadlineWithStuckRefresher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		stuck := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
			<-release // ignores ctx
			return Token{}, errors.New("released")
		})
		s, err := New(context.Background(), stuck, Token{Access: "a", Refresh: "r", Expiry: time.Now().Add(time.Second)},
			WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // expiry: the refresh starts and sticks
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err = s.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not end") {
			t.Errorf("Shutdown = %v, want the deadline and that the refresh did not end", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Shutdown took %v, want its deadline, 1s", d)
		}
	})
}
