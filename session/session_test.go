package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Tests run inside testing/synctest bubbles: time.Now and timers are
// virtual, time.Sleep advances the virtual clock once every goroutine of the
// bubble is blocked, and the bubble fails if a goroutine outlives it.

// newTestSession returns a session on fe holding a pair that expires in an
// hour, refreshing at expiry (no refresh-ahead margin), retrying every
// second without jitter, and the memory its audit records go to.
func newTestSession(t *testing.T, fe *fakeEndpoint, opts ...Option) (*Session, *audit.Memory) {
	t.Helper()
	mem := &audit.Memory{}
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
	base := []Option{WithAudit(mem), WithSeed(1), WithPolicy(policy.Constant{Wait: time.Second}), WithRefreshAhead(0)}
	s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, mem
}

// events renders audit records as "event: cause" lines.
func events(rs []audit.Record) []string {
	var out []string
	for _, r := range rs {
		line := r.Event.String()
		if r.Cause != "" {
			line += ": " + r.Cause
		}
		out = append(out, line)
	}
	return out
}

func TestFaults(t *testing.T) {
	const (
		expire  = "expire: access token expired"
		refresh = "refresh: access token expired"
		retry   = "retry: retry due"
		succeed = "succeed"
	)
	tests := []struct {
		name  string
		fault fault
		n     int
		want  []string
		state states.State
	}{
		{"502 page", fault{Kind: "status", Status: 502}, 2,
			[]string{expire, refresh, "fail: 502 Bad Gateway", retry, "fail: 502 Bad Gateway", retry, succeed}, states.Valid},
		{"hang", fault{Kind: "hang"}, 1,
			[]string{expire, refresh, "fail: no answer before the request deadline", retry, succeed}, states.Valid},
		{"refused", fault{Kind: "refused"}, 1,
			[]string{expire, refresh, "fail: dial tcp: connect: connection refused", retry, succeed}, states.Valid},
		{"429 with Retry-After", fault{Kind: "status", Status: 429, RetryAfter: "30"}, 1,
			[]string{expire, refresh, "fail: 429 Too Many Requests", retry, succeed}, states.Valid},
		{"html200", fault{Kind: "html200"}, 1,
			[]string{expire, refresh, "fail: 200 OK: not a token response: body is an HTML or XML page", retry, succeed}, states.Valid},
		{"malformed", fault{Kind: "malformed"}, 1,
			[]string{expire, refresh, "fail: 200 OK: not a token response: malformed JSON", retry, succeed}, states.Valid},
		{"proxy 404 page", fault{Kind: "status", Status: 404}, 1,
			[]string{expire, refresh, "fail: 404 Not Found", retry, succeed}, states.Valid},
		{"invalid_grant", fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1,
			[]string{expire, refresh, "deny: 400 invalid_grant"}, states.Revoked},
		{"401 from the authorization server", fault{Kind: "status", Status: 401, Code: "invalid_grant"}, 1,
			[]string{expire, refresh, "deny: 401 invalid_grant"}, states.Revoked},
		// invalid_request is retried until it repeats (policy.SuspectRepeats).
		{"401 invalid_request once", fault{Kind: "status", Status: 401}, 1,
			[]string{expire, refresh, "fail: 401 invalid_request", retry, succeed}, states.Valid},
		{"revoke", fault{Kind: "revoke"}, 0,
			[]string{expire, refresh, "deny: 400 invalid_grant"}, states.Revoked},
		{"lost response on a rotating server", fault{Kind: "lost_response"}, 1,
			[]string{expire, refresh, "fail: 502 Bad Gateway", retry,
				"deny: 400 invalid_grant: refresh token probably consumed by a refresh whose answer was lost (502 Bad Gateway)"}, states.Revoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				fe.SetFault(tc.fault, tc.n)
				s, mem := newTestSession(t, fe)
				defer s.Close()
				time.Sleep(time.Hour + time.Minute)
				synctest.Wait()
				recs := mem.Records()
				if diff := cmp.Diff(tc.want, events(recs)); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				st := s.Status()
				if st.State != tc.state {
					t.Errorf("state = %v, want %v", st.State, tc.state)
				}
				tok, err := s.Token(context.Background())
				if tc.state == states.Valid {
					if err != nil || tok.Access != "tok-access-1" {
						t.Errorf("Token = %v, %v; want tok-access-1", tok, err)
					}
					return
				}
				var re *RevokedError
				if !errors.As(err, &re) || !errors.Is(err, ErrRevoked) || re.Cause != st.Cause {
					t.Errorf("Token error = %v, want a RevokedError with cause %q", err, st.Cause)
				}
			})
		})
	}
}

func TestRetryAfterSetsTheNextAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 429, RetryAfter: "30"}, 1)
		s, mem := newTestSession(t, fe)
		defer s.Close()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		recs := mem.Records()
		if len(recs) < 4 || recs[2].Event != states.Fail || recs[3].Event != states.Retry {
			t.Fatalf("transitions = %v", events(recs))
		}
		if got := recs[2].NextAt.Sub(recs[2].Time); got != 30*time.Second {
			t.Errorf("next attempt in %v, want the server's 30s", got)
		}
		if got := recs[3].Time.Sub(recs[2].Time); got != 30*time.Second {
			t.Errorf("retry came %v after the failure, want 30s", got)
		}
	})
}

func TestRefreshErrorMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 0)
		s, _ := newTestSession(t, fe, WithPolicy(policy.Exponential{Initial: time.Second, Multiplier: 2}))
		defer s.Close()
		time.Sleep(time.Hour + 3*time.Second) // attempts at +0s, +1s, +3s
		synctest.Wait()
		_, err := s.Token(context.Background())
		want := "session: token refresh failed: 502 Bad Gateway from https://auth.example/oauth/token (attempt 3, next in 4s; access token expired 3s ago)"
		if err == nil || err.Error() != want {
			t.Fatalf("Token error =\n%v\nwant\n%s", err, want)
		}
		var re *RefreshError
		if !errors.As(err, &re) || re.Status != 502 || re.Attempt != 3 || re.TokenValid {
			t.Errorf("RefreshError = %+v", re)
		}
		var ee *EndpointError
		if !errors.As(err, &ee) || ee.Status != 502 || !ee.Sent {
			t.Errorf("errors.As EndpointError = %+v", ee)
		}
	})
}

func TestRefreshErrorText(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		e    RefreshError
		want string
	}{
		{RefreshError{Cause: "502 Bad Gateway", URL: "https://auth.example/oauth/token", Attempt: 3, At: at, NextAt: at.Add(4 * time.Second), Expiry: at.Add(-12 * time.Second)},
			"session: token refresh failed: 502 Bad Gateway from https://auth.example/oauth/token (attempt 3, next in 4s; access token expired 12s ago)"},
		{RefreshError{Cause: "connection refused", Attempt: 1, At: at, NextAt: at.Add(1500 * time.Millisecond), Expiry: at.Add(5 * time.Minute), TokenValid: true},
			"session: token refresh failed: connection refused (attempt 1, next in 1.5s; access token valid for 5m0s more)"},
		{RefreshError{Cause: "503 Service Unavailable", Attempt: 8, At: at},
			"session: token refresh failed: 503 Service Unavailable (attempt 8, policy gave up; the next demand starts a new cycle; no access token)"},
		{RefreshError{Cause: "429 Too Many Requests", Attempt: 2, At: at, NextAt: at.Add(time.Minute), Expiry: at.Add(time.Hour)},
			"session: token refresh failed: 429 Too Many Requests (attempt 2, next in 1m0s; access token rejected by the resource server)"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestFailFastAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 503}, 3)
		s, _ := newTestSession(t, fe) // fail fast by default
		defer s.Close()
		time.Sleep(time.Hour)
		synctest.Wait()
		if _, err := s.Token(context.Background()); !errors.As(err, new(*RefreshError)) {
			t.Fatalf("fail-fast Token = %v, want a RefreshError", err)
		}
		start := time.Now()
		tok, err := s.Token(ContextWithWait(context.Background(), true))
		if err != nil || tok.Access != "tok-access-1" {
			t.Fatalf("waiting Token = %v, %v", tok, err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("waited %v, want the three retries (3s)", waited)
		}
	})
}

func TestWaitEndsWithTheCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 503}, 0)
		s, _ := newTestSession(t, fe, WithFailFast(false))
		defer s.Close()
		time.Sleep(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.Token(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, new(*RefreshError)) {
			t.Fatalf("Token = %v, want the deadline and the last refresh error", err)
		}
		if !strings.Contains(err.Error(), "503 Service Unavailable") {
			t.Errorf("error %q does not name the cause", err)
		}
		// The caller's deadline did not cancel the session's attempts.
		reqs, _, _ := fe.Stats()
		if reqs < 5 {
			t.Errorf("%d requests in 5s at one per second; the refresh was cancelled with the caller", reqs)
		}
	})
}

func TestGiveUpIsNotRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 503}, 2)
		s, mem := newTestSession(t, fe, WithPolicy(policy.Constant{Wait: time.Second, Limits: policy.Limits{MaxAttempts: 2}}), WithFailFast(false))
		defer s.Close()
		time.Sleep(time.Hour)
		_, err := s.Token(context.Background())
		var re *RefreshError
		if !errors.As(err, &re) || !re.NextAt.IsZero() || s.Status().State != states.Expired {
			t.Fatalf("after giving up: Token = %v, state %v", err, s.Status().State)
		}
		tok, err := s.Token(context.Background()) // a new demand starts a new cycle
		if err != nil || tok.Access != "tok-access-1" {
			t.Fatalf("new cycle: Token = %v, %v", tok, err)
		}
		want := []string{"expire: access token expired", "refresh: access token expired", "fail: 503 Service Unavailable",
			"retry: retry due", "give_up: 503 Service Unavailable", "refresh: token demanded", "succeed"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

func TestRefreshAheadHidesAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 30)
		s, _ := newTestSession(t, fe, WithRefreshAhead(5*time.Minute))
		defer s.Close()
		for range 70 { // every minute for 70 minutes, across the expiry
			if _, err := s.Token(context.Background()); err != nil {
				t.Fatalf("at %v: %v", time.Now(), err)
			}
			time.Sleep(time.Minute)
		}
	})
}

func TestRejectRevokeSetTokenClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, mem := newTestSession(t, fe)
		ctx := context.Background()
		s.Reject("some-older-token") // not the current one: ignored
		tok, err := s.Token(ctx)
		if err != nil || tok.Access != "tok-access-0" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
		time.Sleep(time.Minute)
		s.Reject(tok.Access)
		s.Reject(tok.Access) // many requests fail with one token: one refresh
		tok, err = s.Token(ctx)
		if err != nil || tok.Access != "tok-access-1" {
			t.Fatalf("after Reject: Token = %v, %v", tok, err)
		}
		s.Revoke()
		if _, err := s.Token(ctx); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "revoked by the application") {
			t.Fatalf("after Revoke: Token error = %v", err)
		}
		if err := s.SetToken(ctx, Token{Access: "relogin-access", Refresh: "tok-refresh-1", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if tok, err := s.Token(ctx); err != nil || tok.Access != "relogin-access" || tok.Refresh != "" {
			t.Fatalf("after SetToken: Token = %v, %v (want the new access token and no refresh token)", tok, err)
		}
		if err := s.SetToken(ctx, Token{Access: "x"}); err == nil {
			t.Error("SetToken without an expiry succeeded")
		}
		want := []string{"reject: access token rejected by the resource server", "refresh: access token rejected by the resource server", "succeed",
			"revoke: revoked by the application", "set_token: token set by the application"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		for i, r := range mem.Records() {
			if r.Seq != uint64(i+1) || r.Token == "" {
				t.Errorf("record %d: seq %d token %q", i, r.Seq, r.Token)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := s.Token(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: Token error = %v, want ErrClosed", err)
		}
		if err := s.SetToken(ctx, Token{Access: "y", Expiry: time.Now().Add(time.Hour)}); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: SetToken = %v, want ErrClosed", err)
		}
	})
}

func TestCloseDuringRefreshLeavesNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "hang"}, 0)
		s, _ := newTestSession(t, fe, WithFailFast(false))
		time.Sleep(time.Hour + time.Second)
		errc := make(chan error)
		go func() {
			_, err := s.Token(context.Background())
			errc <- err
		}()
		synctest.Wait()
		s.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("waiting Token after Close = %v, want ErrClosed", err)
		}
		// synctest.Test fails if the refresh goroutine or a timer callback
		// is still blocked when the bubble ends.
	})
}

func TestNoTokenRefreshesOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), Token{Refresh: "tok-refresh-0"}, WithSeed(3))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if st := s.Status(); st.State != states.Expired || st.TokenValid {
			t.Errorf("state before demand = %+v", st)
		}
		tok, err := s.Token(context.Background())
		if err != nil || tok.Access != "tok-access-1" || !tok.Expiry.Equal(time.Now().Add(time.Hour)) {
			t.Fatalf("Token = %v, %v", tok, err)
		}
	})
}

func TestFallbackGrantReauthenticates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "revoke"}, 1)
		fb := testClient(t, fe, testEndpoint{Grant: grantClientCredentials})
		s, mem := newTestSession(t, fe, WithFallback(fb))
		defer s.Close()
		time.Sleep(time.Hour)
		synctest.Wait()
		tok, err := s.Token(context.Background())
		if err != nil || tok.Access != "tok-access-1" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
		var grants []string
		for _, f := range fe.Forms {
			grants = append(grants, f.Get("grant_type"))
		}
		if diff := cmp.Diff([]string{"refresh_token", "client_credentials"}, grants); diff != "" {
			t.Errorf("grants (-want +got):\n%s", diff)
		}
		want := []string{"expire: access token expired", "refresh: access token expired",
			"succeed: fallback grant after the refresh token was refused (400 invalid_grant)"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// TestFallbackAfterLostAnswer: the first refresh is performed by the server
// but its answer is lost, so the retry presents a consumed refresh token.
// The fallback re-authenticates, and the audit record of that success says
// why the refresh token died.
func TestFallbackAfterLostAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "lost_response"}, 1)
		fb := testClient(t, fe, testEndpoint{Grant: grantClientCredentials})
		s, mem := newTestSession(t, fe, WithFallback(fb))
		defer s.Close()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if _, err := s.Token(context.Background()); err != nil {
			t.Fatalf("Token: %v", err)
		}
		want := []string{"expire: access token expired", "refresh: access token expired",
			"fail: 502 Bad Gateway", "retry: retry due",
			"succeed: fallback grant after the refresh token was refused (400 invalid_grant: " +
				"refresh token probably consumed by a refresh whose answer was lost (502 Bad Gateway))"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// TestFallbackKeepsTheDeadRefreshTokenDead checks that a fallback token
// which carries no refresh token of its own (the Client then keeps the old,
// refused one) does not revive the primary grant: over five cycles the
// token endpoint sees the refused refresh token once.
func TestFallbackKeepsTheDeadRefreshTokenDead(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ccNoRefresh bool
		wantPrimary int
	}{
		// The fallback's answer has no refresh token: the dead one stays.
		{"fallback without refresh token", true, 1},
		// A fallback that issues a new refresh token revives the primary
		// grant, which the (still refusing) endpoint refuses once a cycle.
		{"fallback with a new refresh token", false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				primary := newFakeEndpoint(time.Hour)
				primary.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 0)
				secondary := newFakeEndpoint(time.Hour)
				secondary.CCNoRefresh = tc.ccNoRefresh
				fb := testClient(t, secondary, testEndpoint{Grant: grantClientCredentials})
				s, _ := newTestSession(t, primary, WithFallback(fb))
				defer s.Close()
				for range 5 {
					time.Sleep(time.Hour)
					synctest.Wait()
					if _, err := s.Token(context.Background()); err != nil {
						t.Fatalf("Token = %v", err)
					}
				}
				p, _, _ := primary.Stats()
				f, ok, _ := secondary.Stats()
				if p != tc.wantPrimary || f != 5 || ok != 5 {
					t.Errorf("primary asked %d times (want %d), fallback %d times with %d successes (want 5, 5)", p, tc.wantPrimary, f, ok)
				}
			})
		})
	}
}

func TestFallbackFailureIsClassified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 2)
		fb := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
			return testClient(t, fe, testEndpoint{Grant: grantClientCredentials}).Refresh(ctx, cur)
		})
		s, mem := newTestSession(t, fe, WithFallback(fb))
		defer s.Close()
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		// The fallback's own permanent refusal revokes, naming both answers.
		want := []string{"expire: access token expired", "refresh: access token expired",
			"deny: the refresh token was refused (400 invalid_grant); fallback grant: 400 invalid_grant"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

func TestStoreResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		st := &FileStore{Path: t.TempDir() + "/token.json"}
		s, _ := newTestSession(t, fe, WithStore(st))
		time.Sleep(time.Hour)
		synctest.Wait()
		s.Close()
		saved, err := st.Load(context.Background())
		if err != nil || saved.Access != "tok-access-1" || saved.Refresh != "tok-refresh-1" {
			t.Fatalf("stored %v, %v", saved, err)
		}
		// A restarted client resumes from the store with the rotated pair.
		s2, err := New(context.Background(), testClient(t, fe, testEndpoint{}), Token{}, WithStore(st))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		time.Sleep(time.Hour)
		tok, err := s2.Token(context.Background())
		if err != nil || tok.Access != "tok-access-2" {
			t.Fatalf("resumed session: Token = %v, %v", tok, err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	r := RefresherFunc(func(context.Context, Token) (Token, error) { return Token{}, nil })
	for _, tc := range []struct {
		name string
		r    Refresher
		opts []Option
		want string
	}{
		{"no refresher", nil, nil, "needs a Refresher"},
		{"zero timeout", r, []Option{WithRequestTimeout(0)}, "request timeout 0s is not positive"},
		{"negative margin", r, []Option{WithRefreshAhead(-time.Second)}, "refresh-ahead margin -1s is negative"},
	} {
		_, err := New(context.Background(), tc.r, Token{}, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("%s: New = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestFallbackTransientFailureRetriesWithTheFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		// The refresh token is refused, then the fallback meets a 502 once.
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1)
		cc := testClient(t, fe, testEndpoint{Grant: grantClientCredentials})
		calls := 0
		counted := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
			if calls++; calls == 1 {
				fe.SetFault(fault{Kind: "status", Status: 502}, 1)
			}
			return cc.Refresh(ctx, cur)
		})
		s, mem := newTestSession(t, fe, WithFallback(counted))
		defer s.Close()
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		want := []string{"expire: access token expired", "refresh: access token expired",
			"fail: the refresh token was refused (400 invalid_grant); fallback grant: 502 Bad Gateway",
			"retry: retry due", "succeed: fallback grant: the refresh token was refused earlier"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		var grants []string
		for _, f := range fe.Forms {
			grants = append(grants, f.Get("grant_type"))
		}
		// The retry goes straight to the fallback: the refresh token is dead.
		if diff := cmp.Diff([]string{"refresh_token", "client_credentials", "client_credentials"}, grants); diff != "" {
			t.Errorf("grants (-want +got):\n%s", diff)
		}
	})
}

func TestAuditChainOfASession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log lockedBuffer
		chain := audit.NewChainWriter(&log, audit.Head{})
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 503}, 2)
		s, _ := newTestSession(t, fe, WithAudit(chain), WithID("billing"))
		time.Sleep(time.Hour + 5*time.Second)
		synctest.Wait()
		s.Revoke()
		s.Close()
		head, err := audit.Verify(strings.NewReader(log.String()))
		if err != nil || head.Seq != 8 {
			t.Fatalf("Verify = %+v, %v; want 8 chained records", head, err)
		}
		if !strings.Contains(log.String(), `"session":"billing"`) {
			t.Errorf("records do not name the session:\n%s", log.String())
		}
	})
}

// TestSeeds: the same seed gives the same retry schedule; without WithSeed
// each session draws its own, so a fleet that failed together does not
// retry in lockstep.
func TestSeeds(t *testing.T) {
	nextRetry := func(opts ...Option) time.Duration {
		var d time.Duration
		synctest.Test(t, func(t *testing.T) {
			fe := newFakeEndpoint(time.Hour)
			fe.SetFault(fault{Kind: "status", Status: 503}, 0)
			s, _ := newTestSession(t, fe, append([]Option{WithPolicy(policy.Default())}, opts...)...)
			defer s.Close()
			time.Sleep(time.Hour)
			synctest.Wait()
			st := s.Status()
			if st.State != states.Backoff {
				t.Fatalf("state %v, want backoff", st.State)
			}
			d = st.NextAt.Sub(time.Now())
		})
		return d
	}
	a, b := nextRetry(WithSeed(7)), nextRetry(WithSeed(7))
	if a != b {
		t.Errorf("seed 7 gave %v and %v", a, b)
	}
	// newTestSession fixes seed 1; a zero-value config draws a random one.
	r1, r2 := nextRetry(func(c *config) { c.seeded = false }), nextRetry(func(c *config) { c.seeded = false })
	if r1 == r2 {
		t.Errorf("two unseeded sessions chose the same delay %v", r1)
	}
}
