package integration

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// The first lines of every scenario that starts with a token expiring on
// the client's clock (no refresh-ahead).
var expiryStart = []string{
	"valid→expired expire: access token expired",
	"expired→refreshing refresh: access token expired",
}

func checkAudit(t *testing.T, mem *audit.Memory, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, transitions(mem.Records())); diff != "" {
		t.Errorf("audit state sequence (-want +got):\n%s", diff)
	}
}

// TestLostRefreshAnswer: the refresh reaches fosite, which rotates the
// token, but fosite answers after nginx's proxy_read_timeout, so the client
// gets nginx's 504 page and never sees the new pair. The retry presents the
// consumed refresh token: fosite answers invalid_grant and revokes the
// family. authfsm names the likely cause; with a client_credentials
// fallback it re-authenticates by itself, and the audit record of that
// success names the same cause.
func TestLostRefreshAnswer(t *testing.T) {
	lost := "400 invalid_grant: refresh token probably consumed by a refresh whose answer was lost (504 Gateway Timeout)"
	for _, c := range []struct {
		name     string
		fallback bool
		want     []string
		end      states.State
	}{
		{"without fallback", false, append(expiryStart[:2:2],
			"refreshing→backoff fail: 504 Gateway Timeout",
			"backoff→refreshing retry: retry due",
			"refreshing→revoked deny: "+lost,
		), states.Revoked},
		{"client_credentials fallback", true, append(expiryStart[:2:2],
			"refreshing→backoff fail: 504 Gateway Timeout",
			"backoff→refreshing retry: retry due",
			"refreshing→valid succeed: fallback grant after the refresh token was refused (400 invalid_grant: "+
				"refresh token probably consumed by a refresh whose answer was lost (504 Gateway Timeout))",
		), states.Valid},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, tokenserver.Config{}, nginx.Config{ProxyReadTimeout: 400 * time.Millisecond})
			initial, tr := e.login(t, 300*time.Millisecond)
			e.srv.SetFault(tokenserver.Fault{Kind: tokenserver.Delay, Delay: 1500 * time.Millisecond, Count: 1})
			tokens := newTokenCounter()
			opts := []session.Option{session.WithRequestTimeout(time.Second)}
			if c.fallback {
				opts = append(opts, session.WithFallback(e.client(t, oauth.GrantClientCredentials, tokens)))
			}
			s, mem, logs := newSession(t, e.client(t, oauth.GrantRefreshToken, tokens), initial, "lost-answer", opts...)
			waitFor(t, "the end of the refresh cycle", 5*time.Second, func() bool {
				return countEvents(mem.Records(), "deny")+countEvents(mem.Records(), "succeed") > 0
			})
			if got := s.Status().State; got != c.end {
				t.Errorf("ended %v, want %v", got, c.end)
			}
			checkAudit(t, mem, c.want)

			counts := e.srv.Counts()
			if counts.Rotations != 1 || counts.Reuse != 1 {
				t.Errorf("fosite rotated %d times and saw %d reuses; want the lost rotation and one reuse", counts.Rotations, counts.Reuse)
			}
			_, err := s.Token(t.Context())
			hc := &http.Client{Transport: &session.Transport{Session: s}}
			status, callErr := get(t.Context(), hc, e.resourceURL())
			if !c.fallback {
				var re *session.RevokedError
				if !errors.As(err, &re) || !errors.Is(err, session.ErrRevoked) || re.Cause != lost {
					t.Errorf("Token: %v, want a RevokedError with cause %q", err, lost)
				}
				if !errors.Is(callErr, session.ErrRevoked) {
					t.Errorf("resource call on a revoked session: %d %v, want ErrRevoked", status, callErr)
				}
				return
			}
			if err != nil || status != http.StatusOK {
				t.Errorf("after the fallback: Token %v, resource %d %v", err, status, callErr)
			}
			if got := counts.Grants["client_credentials"]; got != 1 {
				t.Errorf("%d client_credentials grants, want 1", got)
			}
			if l := logs.String(); !strings.Contains(l, "trying the fallback grant") || !strings.Contains(l, "400 invalid_grant") {
				t.Errorf("the refusal that led to the fallback is not logged:\n%s", l)
			}
			assertNoSecret(t, "session log", logs.String(), tr.AccessToken, tr.RefreshToken, e.srv.ClientSecret())
		})
	}
}

// TestRevokedFamily: someone replays a refresh token the session had
// already rotated away (a leaked copy); fosite revokes the whole family. The
// session learns it from the resource server's 401, tries one refresh, is
// refused, and stops: the call gets ErrRevoked (not the 401), the session is
// Revoked without the lost-answer note, and it sends no more requests.
func TestRevokedFamily(t *testing.T) {
	e := newEnv(t, tokenserver.Config{}, nginx.Config{})
	ctx := t.Context()
	first, err := e.srv.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	direct := &http.Client{Timeout: 5 * time.Second}
	refresh := func(rt string) (tokenserver.TokenResponse, error) {
		return tokenserver.RequestToken(ctx, direct, e.srv.URL()+tokenserver.TokenPath, e.srv.ClientID(), e.srv.ClientSecret(),
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	initial := session.Token{Access: session.Secret(second.AccessToken), Refresh: session.Secret(second.RefreshToken),
		Issued: now, Expiry: now.Add(time.Duration(second.ExpiresIn) * time.Second)}
	tokens := newTokenCounter()
	s, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, tokens), initial, "revoked-family")
	hc := &http.Client{Transport: &session.Transport{Session: s}}
	if status, err := get(ctx, hc, e.resourceURL()); status != http.StatusOK {
		t.Fatalf("before the replay: %d %v", status, err)
	}

	if _, err := refresh(first.RefreshToken); err == nil {
		t.Fatal("fosite accepted a rotated refresh token")
	}
	// The resource's 401 makes the transport refresh; the refusal of that
	// refresh is the honest answer to the call, not the 401 it replaced.
	if status, err := get(ctx, hc, e.resourceURL()); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("first call after the family was revoked: %d %v, want ErrRevoked from the refresh the 401 started", status, err)
	}
	if _, err := get(ctx, hc, e.resourceURL()); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("second call: %v, want ErrRevoked without a request", err)
	}
	checkAudit(t, mem, []string{
		// The Transport says which answer rejected the token.
		"valid→expired reject: 401 Unauthorized from " + e.resourceURL() + ` (WWW-Authenticate: Bearer error="invalid_token")`,
		"expired→refreshing refresh: access token rejected by the resource server",
		"refreshing→revoked deny: 400 invalid_grant",
	})
	if got := tokens.requests(); len(got) != 1 || got[0].Status != http.StatusBadRequest {
		t.Errorf("token requests %+v, want exactly one, refused with 400", got)
	}
}

// TestRetryAfter: nginx in front of the token endpoint answers 429 with
// Retry-After: 1. The session waits the full second although its policy
// would retry after 100 ms, and the backend never sees the refused request.
func TestRetryAfter(t *testing.T) {
	e := newEnv(t, tokenserver.Config{}, nginx.Config{RetryAfter: 1})
	initial, _ := e.login(t, 300*time.Millisecond)
	if err := e.px.SetRateLimited(true); err != nil {
		t.Fatal(err)
	}
	tokens := newTokenCounter()
	s, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, tokens), initial, "retry-after")
	waitFor(t, "the first 429", 5*time.Second, func() bool { return len(tokens.requests()) > 0 })
	if err := e.px.SetRateLimited(false); err != nil {
		t.Fatal(err)
	}
	// Between the 429 and the retry, callers fail fast with the reason.
	_, err := s.Token(t.Context())
	var re *session.RefreshError
	if !errors.As(err, &re) || re.Status != http.StatusTooManyRequests || re.RetryAfter != time.Second {
		t.Errorf("Token during Retry-After: %v, want a RefreshError 429 with Retry-After 1s", err)
	}
	waitFor(t, "recovery", 5*time.Second, func() bool { return countEvents(mem.Records(), "succeed") > 0 })
	checkAudit(t, mem, append(expiryStart[:2:2],
		"refreshing→backoff fail: 429 Too Many Requests",
		"backoff→refreshing retry: retry due",
		"refreshing→valid succeed",
	))
	recs := mem.Records()
	if fail := recs[2]; fail.NextAt.Sub(fail.Time) < time.Second {
		t.Errorf("retry scheduled %v after the 429, want at least Retry-After (1s)", fail.NextAt.Sub(fail.Time))
	}
	sent := tokens.requests()
	if len(sent) != 2 || sent[0].Status != http.StatusTooManyRequests || sent[1].Status != http.StatusOK {
		t.Fatalf("token requests %+v, want a 429 then a 200", sent)
	}
	if gap := sent[1].At.Sub(sent[0].At); gap < time.Second {
		t.Errorf("retried %v after the 429, before Retry-After", gap)
	}
	if got := e.srv.Counts().Grants["refresh_token"]; got != 1 {
		t.Errorf("backend saw %d refreshes, want 1 (the 429 came from nginx)", got)
	}
}

// TestHangingEndpoint: the backend accepts token requests and never
// answers. Each attempt ends at the session's own deadline (nginx would
// wait 10s), callers keep getting the still-valid token meanwhile, and
// when the backend answers again the session recovers.
func TestHangingEndpoint(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, tokenserver.Config{}, nginx.Config{})
	initial, _ := e.login(t, 1500*time.Millisecond)
	e.srv.SetFault(tokenserver.Fault{Kind: tokenserver.Hang})
	s, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, newTokenCounter()), initial, "hanging",
		session.WithRefreshAhead(1200*time.Millisecond), session.WithRequestTimeout(timeout))

	hung := func() int {
		n := 0
		for _, r := range e.srv.Requests() {
			if r.Fault == tokenserver.Hang {
				n++
			}
		}
		return n
	}
	waitFor(t, "a hung refresh", 5*time.Second, func() bool { return hung() > 0 })
	// The hung refresh must not hold up callers while the token is valid.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	tok, err := s.Token(ctx)
	cancel()
	if err != nil || tok.Access != initial.Access {
		t.Errorf("Token during a hung refresh: %v, want the still-valid token at once", err)
	}
	waitFor(t, "a second hung attempt", 5*time.Second, func() bool { return hung() >= 2 })
	e.srv.SetFault(tokenserver.Fault{})
	waitFor(t, "recovery", 5*time.Second, func() bool { return countEvents(mem.Records(), "succeed") > 0 })

	noAnswer := "refreshing→backoff fail: no answer before the request deadline"
	checkAudit(t, mem, []string{
		"valid→refreshing refresh_ahead: refresh-ahead point reached",
		noAnswer,
		"backoff→refreshing retry: retry due",
		"refreshing→valid succeed",
	})
	// Every hung attempt lasted the session's request timeout, not nginx's.
	recs := mem.Records()
	for i := 1; i < len(recs); i++ {
		if recs[i].Event != states.Fail {
			continue
		}
		if d := recs[i].Time.Sub(recs[i-1].Time); d < timeout || d > timeout+time.Second {
			t.Errorf("attempt %d ended after %v, want about %v", recs[i].Attempt, d, timeout)
		}
	}
	// nginx saw the client give up on each hung request (499); it writes
	// the log line once it notices, so poll.
	fails := countEvents(recs, "fail")
	closed := func() int {
		log, err := e.px.AccessLog()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range log {
			if l.Path == tokenserver.TokenPath && l.Status == 499 {
				n++
			}
		}
		return n
	}
	waitFor(t, "nginx to log each abandoned request as 499", 5*time.Second, func() bool { return closed() == fails })
}
