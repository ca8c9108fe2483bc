package session

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/states"
)

// resourceServer answers 200 to the tokens in ok and 401 to any other, and
// records what it saw.
type resourceServer struct {
	mu        sync.Mutex
	ok        map[string]bool
	seen      []string // "Authorization | body"
	reqs      []*http.Request
	always401 bool
}

func (rs *resourceServer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	auth := r.Header.Get("Authorization")
	rs.seen = append(rs.seen, auth+" | "+string(body))
	rs.reqs = append(rs.reqs, r)
	if rs.always401 || !rs.ok[strings.TrimPrefix(auth, "Bearer ")] {
		return respond(r, 401, "text/plain", "unauthorized", ""), nil
	}
	return respond(r, 200, "text/plain", "ok", ""), nil
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestTransport(t *testing.T) {
	tests := []struct {
		name      string
		body      func() (io.Reader, bool) // the body, and whether GetBody is set
		always401 bool
		status    int
		seen      []string
	}{
		{"401 then replay with the new token", func() (io.Reader, bool) { return strings.NewReader("payload"), true }, false, 200,
			[]string{"Bearer tok-access-0 | payload", "Bearer tok-access-1 | payload"}},
		{"no body replays", func() (io.Reader, bool) { return nil, false }, false, 200,
			[]string{"Bearer tok-access-0 | ", "Bearer tok-access-1 | "}},
		// The refreshed token is refused too: a failed attempt, paced by
		// the policy; the caller gets the second 401 (the contract of
		// http.RoundTripper) and RejectionFrom says why.
		{"second 401 fails the refresh attempt", func() (io.Reader, bool) { return strings.NewReader("payload"), true }, true, 401,
			[]string{"Bearer tok-access-0 | payload", "Bearer tok-access-1 | payload"}},
		{"a body that cannot be replayed is not", func() (io.Reader, bool) { return &closeTracker{Reader: strings.NewReader("once")}, false }, false, 401,
			[]string{"Bearer tok-access-0 | once"}},
	}
	// Each case twice: without, then with Transport.ModifyRequest.
	for i := range 2 * len(tests) {
		tc, modify := tests[i%len(tests)], i >= len(tests)
		name := tc.name
		if modify {
			name += ", ModifyRequest"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				s, _ := newTestSession(t, fe)
				defer s.Close()
				time.Sleep(time.Minute) // so the refreshed token's expiry advances
				rs := &resourceServer{ok: map[string]bool{"tok-access-1": true}, always401: tc.always401}
				body, replayable := tc.body()
				req, err := http.NewRequest(http.MethodPost, "https://api.example/v1", body)
				if err != nil {
					t.Fatal(err)
				}
				if !replayable {
					req.GetBody = nil
				}
				resp, err := (&Transport{Session: s, Base: rs, ModifyRequest: modify}).RoundTrip(req)
				if err != nil {
					t.Fatalf("RoundTrip error %v; a response obtained must be returned with a nil error", err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := map[int]string{200: "ok", 401: "unauthorized"}[tc.status]; resp.StatusCode != tc.status || err != nil || string(b) != want {
					t.Errorf("response %d %q (%v), want %d %q", resp.StatusCode, b, err, tc.status, want)
				}
				rejection := RejectionFrom(resp)
				var rerr *RejectedError
				if tc.always401 {
					if !errors.As(rejection, &rerr) || !errors.Is(rejection, ErrTokenRejected) || rerr.Status != 401 || rerr.NextAt.IsZero() {
						t.Errorf("RejectionFrom = %v; want a *RejectedError with the next attempt", rejection)
					}
				} else if rejection != nil {
					t.Errorf("RejectionFrom = %v, want nil", rejection)
				}
				if diff := cmp.Diff(tc.seen, rs.seen); diff != "" {
					t.Errorf("resource server saw (-want +got):\n%s", diff)
				}
				// Without ModifyRequest the caller's request is left as it
				// was; with it, the first try is the caller's request itself,
				// and a replay is a clone.
				for i, r := range rs.reqs {
					if mine := r == req; mine != (modify && i == 0) {
						t.Errorf("request %d sent: the caller's own %t, want %t", i, mine, modify && i == 0)
					}
				}
				if got, want := req.Header.Get("Authorization"), map[bool]string{true: "Bearer tok-access-0"}[modify]; got != want {
					t.Errorf("the caller's request carries Authorization %q after the round trip, want %q", got, want)
				}
				// Whatever happened, the 401 told the session.
				tok, err := s.Token(context.Background())
				if tc.always401 {
					if st := s.Status(); st.State != states.Backoff || err == nil || !strings.Contains(err.Error(), "moments ago was rejected too") {
						t.Errorf("after the refreshed token was refused: state %v, Token error %v", st.State, err)
					}
				} else if err != nil || tok.Access != "tok-access-1" {
					t.Errorf("session token after the 401 = %v, %v", tok, err)
				}
			})
		})
	}
}

// TestTransportPassesARefusedFreshToken: against an API that refuses every
// token, a request whose first try already carries a token on probation (the
// one a rejection's refresh delivered) gets that 401 at once, with the
// rejection, and is not replayed: the session is in backoff, paced by the
// policy.
func TestTransportPassesARefusedFreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe)
		defer s.Close()
		time.Sleep(time.Minute)
		rs := &resourceServer{always401: true}
		tr := &Transport{Session: s, Base: rs}
		get := func() *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, "https://api.example/v1", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip error %v, want the 401", err)
			}
			resp.Body.Close()
			return resp
		}
		if resp := get(); resp.StatusCode != 401 || RejectionFrom(resp) == nil {
			t.Fatalf("first request: %d, rejection %v", resp.StatusCode, RejectionFrom(resp))
		}
		time.Sleep(2 * time.Second) // the policy's retry fetched tok-access-2, on probation
		if tok, err := s.Token(context.Background()); err != nil || tok.Access != "tok-access-2" {
			t.Fatalf("Token = %v, %v", tok, err)
		}
		before := len(rs.seen)
		resp := get()
		var rerr *RejectedError
		if resp.StatusCode != 401 || !errors.As(RejectionFrom(resp), &rerr) || rerr.NextAt.IsZero() {
			t.Errorf("second request: %d, rejection %v", resp.StatusCode, RejectionFrom(resp))
		}
		if got := rs.seen[before:]; len(got) != 1 || got[0] != "Bearer tok-access-2 | " {
			t.Errorf("the second request reached the API as %q, want once with tok-access-2", got)
		}
		if n, _, _ := fe.Stats(); n != 2 {
			t.Errorf("%d token requests, want 2: the refused fresh tokens are paced", n)
		}
	})
}

// TestTransportDuringAnOutage replays a 401 while the token endpoint answers
// 503 to everything, on a request without deadline: the transport honours
// the session's WithFailFast and the caller's ContextWithWait, a waiting request
// waits at most until the next attempt's request timeout, and either way
// the caller gets the refresh error, never a request that hangs.
func TestTransportDuringAnOutage(t *testing.T) {
	const timeout = 10 * time.Second
	for _, tc := range []struct {
		name     string
		failFast bool
		wait     *bool // the caller's ContextWithWait, if any
		maxWait  time.Duration
	}{
		{"session fails fast", true, nil, 0},
		{"caller fails fast on a waiting session", false, ptr(false), 0},
		{"session waits", false, nil, time.Second + timeout},
		{"caller waits on a fail-fast session", true, ptr(true), time.Second + timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				fe.SetFault(fault{Kind: "status", Status: 503}, 0)
				s, _ := newTestSession(t, fe, WithFailFast(tc.failFast), WithRequestTimeout(timeout))
				defer s.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.wait != nil {
					ctx = ContextWithWait(ctx, *tc.wait)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example/v1", nil)
				type result struct {
					resp *http.Response
					err  error
					took time.Duration
				}
				done := make(chan result, 1)
				go func() {
					start := time.Now()
					resp, err := (&Transport{Session: s, Base: &resourceServer{always401: true}}).RoundTrip(req)
					done <- result{resp, err, time.Since(start)}
				}()
				time.Sleep(time.Minute) // well past the longest allowed wait
				var r result
				select {
				case r = <-done:
				default:
					cancel() // let the goroutine end before the bubble does
					<-done
					t.Fatal("RoundTrip still blocked after a minute of outage")
				}
				if r.resp != nil {
					r.resp.Body.Close()
					t.Errorf("RoundTrip answered %d, want the refresh error", r.resp.StatusCode)
				}
				var re *RefreshError
				if !errors.As(r.err, &re) || re.Status != 503 || !strings.HasPrefix(r.err.Error(), "session: ") {
					t.Errorf("RoundTrip error = %v, want a *RefreshError with status 503", r.err)
				}
				if r.took > tc.maxWait {
					t.Errorf("RoundTrip took %v, want at most %v", r.took, tc.maxWait)
				}
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTransportTokenErrorClosesTheBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe)
		defer s.Close()
		s.Revoke()
		body := &closeTracker{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest(http.MethodPost, "https://api.example/v1", body)
		_, err := (&Transport{Session: s, Base: &resourceServer{}}).RoundTrip(req)
		if !errors.Is(err, ErrRevoked) {
			t.Errorf("RoundTrip error = %v, want ErrRevoked", err)
		}
		if !body.closed {
			t.Error("the request body was not closed")
		}
		_, err = (&Transport{}).RoundTrip(req)
		if err == nil || !strings.Contains(err.Error(), "no Session") {
			t.Errorf("RoundTrip without a session = %v", err)
		}
	})
}

func TestTokenSourceWithOAuth2Client(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe)
		defer s.Close()
		rs := &resourceServer{ok: map[string]bool{"tok-access-0": true}}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rs})
		hc := oauth2.NewClient(ctx, s.TokenSource(ctx))
		resp, err := hc.Get("https://api.example/v1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || rs.seen[0] != "Bearer tok-access-0 | " {
			t.Errorf("status %d, seen %q", resp.StatusCode, rs.seen)
		}
		tok, err := s.TokenSource(nil).Token()
		if err != nil || tok.AccessToken != "tok-access-0" || tok.RefreshToken != "" || tok.TokenType != "Bearer" {
			t.Errorf("Token() = %+v, %v", tok, err)
		}
		s.Revoke()
		if _, err := s.TokenSource(ctx).Token(); !errors.Is(err, ErrRevoked) {
			t.Errorf("after Revoke: Token() error = %v", err)
		}
	})
}

// TestTransportRequestWithoutHeader: a request built without a Header (as
// a RoundTripper may be given) gets the token, with or without
// ModifyRequest.
func TestTransportRequestWithoutHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newTestSession(t, newFakeEndpoint(time.Hour))
		defer s.Close()
		for _, modify := range []bool{false, true} {
			rs := &resourceServer{ok: map[string]bool{"tok-access-0": true}}
			u, _ := url.Parse("https://api.example/v1")
			resp, err := (&Transport{Session: s, Base: rs, ModifyRequest: modify}).RoundTrip(&http.Request{Method: http.MethodGet, URL: u})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("ModifyRequest %t: %v, %v", modify, resp, err)
			}
			resp.Body.Close()
		}
	})
}
