package session

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// The answers of an authorization server that a client misreads easily:
// a refused client is not a dead refresh token, an invalid_request may be
// a storage conflict that a retry resolves, and an OAuth2 error is an
// answer, not a lost one.

// hydraConflict is fosite's (Ory Hydra v2.3.0's) description of a refresh
// that lost a storage conflict: the transaction rolled back, the refresh
// token was not consumed, and the same request succeeds when sent again.
const hydraConflict = "The request is missing a required parameter, includes an invalid parameter value, " +
	"includes a parameter more than once, or is otherwise malformed. Failed to refresh token because of " +
	"multiple concurrent requests using the same token. Please retry the request."

// sequenced returns a session whose refresher meets faults[i] at its i-th
// request (none after the last), with the test session's settings.
func sequenced(t *testing.T, fe *fakeEndpoint, faults []fault, opts ...Option) (*Session, *audit.Memory) {
	t.Helper()
	c := testClient(t, fe, Endpoint{})
	n := 0
	r := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		fl := fault{}
		if n < len(faults) {
			fl = faults[n]
		}
		n++
		fe.setFault(fl, 1)
		return c.Refresh(ctx, cur)
	})
	mem := &audit.Memory{}
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
	base := []Option{WithAudit(mem), WithSeed(1), WithPolicy(policy.Constant{Wait: time.Second}), WithRefreshAhead(0)}
	s, err := New(context.Background(), r, initial, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, mem
}

func grantsOf(fe *fakeEndpoint) []string {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	var grants []string
	for _, f := range fe.forms {
		grants = append(grants, f.Get("grant_type"))
	}
	return grants
}

// TestMisconfiguredClientSkipsTheFallback: a wrong client secret is answered
// invalid_client (or the grant unauthorized_client). A fallback grant that
// authenticates as the same client would be refused the same way, so the
// session stops at once with the misconfiguration, sends nothing more, and
// never says that the refresh token was refused (it said "refresh token
// refused; trying the fallback grant" and sent the fallback request).
func TestMisconfiguredClientSkipsTheFallback(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{{401, "invalid_client"}, {400, "unauthorized_client"}} {
		t.Run(tc.code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				fe.setFault(fault{kind: "status", status: tc.status, code: tc.code}, 0)
				var logs lockedBuffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				fb := testClient(t, fe, Endpoint{Grant: GrantClientCredentials})
				s, mem := newTestSession(t, fe, WithFallback(fb), WithLogger(logger))
				defer s.Close()
				time.Sleep(time.Hour + time.Minute)
				synctest.Wait()
				cause := policy.StatusText(tc.status)[:3] + " " + tc.code + ": client misconfigured"
				want := []string{"expire: access token expired", "refresh: access token expired", "deny: " + cause}
				synctest.Wait() // the outbox may still be delivering on the refresh goroutine
				if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				// The default AuthAutoDetect tries the body once after Basic
				// met invalid_client; then nothing more.
				want = []string{"refresh_token"}
				if tc.code == "invalid_client" {
					want = append(want, "refresh_token")
				}
				if diff := cmp.Diff(want, grantsOf(fe)); diff != "" {
					t.Errorf("grants (-want +got):\n%s", diff)
				}
				_, err := s.Token(context.Background())
				if !errors.Is(err, ErrMisconfigured) {
					t.Errorf("Token = %v, want ErrMisconfigured", err)
				}
				if l := logs.String(); strings.Contains(l, "refresh token refused") || strings.Contains(l, "fallback") {
					t.Errorf("the log reads a refused client as a refused refresh token:\n%s", l)
				}
			})
		})
	}
}

// TestMisconfiguredClientTriesAnotherClientsFallback: a fallback that
// authenticates as another client may succeed where this one was refused;
// it is tried, and the log and the audit record say that the client, not
// the refresh token, was refused.
func TestMisconfiguredClientTriesAnotherClientsFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		primary := newFakeEndpoint(time.Hour)
		primary.setFault(fault{kind: "status", status: 401, code: "invalid_client"}, 0)
		secondary := newFakeEndpoint(time.Hour)
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		fb := testClient(t, secondary, Endpoint{Grant: GrantClientCredentials, ClientID: "robot", ClientSecret: "robot-secret"})
		s, mem := newTestSession(t, primary, WithFallback(fb), WithLogger(logger))
		defer s.Close()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if _, err := s.Token(context.Background()); err != nil {
			t.Fatalf("Token: %v", err)
		}
		want := []string{"expire: access token expired", "refresh: access token expired",
			"succeed: fallback grant after the client was refused (401 invalid_client: client misconfigured)"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		l := logs.String()
		if strings.Contains(l, "refresh token refused") || !strings.Contains(l, "client refused by the authorization server; trying the fallback grant") {
			t.Errorf("log:\n%s", l)
		}
	})
}

// TestInvalidRequestAnswers: an invalid_request revokes only when the same
// answer comes back policy.SuspectRepeats times in a row, and never when
// the server asks for a retry (Hydra's storage conflict, which rolled back:
// the same refresh token, sent again, gets a pair). It revoked at once.
func TestInvalidRequestAnswers(t *testing.T) {
	const (
		expire   = "expire: access token expired"
		refresh  = "refresh: access token expired"
		retry    = "retry: retry due"
		succeed  = "succeed"
		conflict = "fail: 400 invalid_request: the server asks for a retry"
		plain    = "fail: 400 invalid_request"
	)
	hydra := fault{kind: "status", status: 400, code: "invalid_request", desc: hydraConflict}
	malformed := fault{kind: "status", status: 400, code: "invalid_request"}
	for _, tc := range []struct {
		name   string
		faults []fault
		want   []string
		state  states.State
	}{
		{"storage conflict", []fault{hydra}, []string{expire, refresh, conflict, retry, succeed}, states.Valid},
		{"storage conflicts in a row", []fault{hydra, hydra, hydra, hydra},
			[]string{expire, refresh, conflict, retry, conflict, retry, conflict, retry, conflict, retry, succeed}, states.Valid},
		{"invalid_request once", []fault{malformed}, []string{expire, refresh, plain, retry, succeed}, states.Valid},
		{"invalid_request twice", []fault{malformed, malformed}, []string{expire, refresh, plain, retry, plain, retry, succeed}, states.Valid},
		{"invalid_request, a 502, invalid_request twice", []fault{malformed, {kind: "status", status: 502}, malformed, malformed},
			[]string{expire, refresh, plain, retry, "fail: 502 Bad Gateway", retry, plain, retry, plain, retry, succeed}, states.Valid},
		{"the same invalid_request three times", []fault{malformed, malformed, malformed, malformed},
			[]string{expire, refresh, plain, retry, plain, retry, "deny: 400 invalid_request: the same refusal 3 times in a row"}, states.Revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				s, mem := sequenced(t, fe, tc.faults)
				defer s.Close()
				time.Sleep(time.Hour + time.Minute)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, events(mem.Records())); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				if st := s.Status(); st.State != tc.state {
					t.Errorf("state = %v, want %v", st.State, tc.state)
				}
				fe.mu.Lock()
				for i, f := range fe.forms {
					if rt := f.Get("refresh_token"); rt != "tok-refresh-0" {
						t.Errorf("request %d presented %q, want the unconsumed tok-refresh-0", i, rt)
					}
				}
				fe.mu.Unlock()
				_, err := s.Token(context.Background())
				if tc.state == states.Revoked {
					var re *RevokedError
					if !errors.As(err, &re) || re.Description != "refused by the fake" || re.Misconfigured {
						t.Errorf("Token = %v, want a RevokedError carrying the description", err)
					}
				} else if err != nil {
					t.Errorf("Token = %v", err)
				}
			})
		})
	}
}

// TestOAuth2ErrorIsNotALostAnswer: Hydra's JSON 500 server_error (a
// rolled-back transaction) is an answer: the server evaluated the request
// and handed out no pair. An invalid_grant after it is not explained by a
// lost answer (it was), while one after a proxy's page still is.
func TestOAuth2ErrorIsNotALostAnswer(t *testing.T) {
	invalidGrant := fault{kind: "status", status: 400, code: "invalid_grant"}
	for _, tc := range []struct {
		name  string
		first fault
		want  string
	}{
		{"JSON 500 server_error", fault{kind: "status", status: 500, code: "server_error"}, "deny: 400 invalid_grant"},
		{"JSON 503 temporarily_unavailable", fault{kind: "status", status: 503, code: "temporarily_unavailable"}, "deny: 400 invalid_grant"},
		{"proxy's 500 page", fault{kind: "status", status: 500},
			"deny: 400 invalid_grant: refresh token probably consumed by a refresh whose answer was lost (500 Internal Server Error)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				s, mem := sequenced(t, fe, []fault{tc.first, invalidGrant})
				defer s.Close()
				time.Sleep(time.Hour + time.Minute)
				synctest.Wait()
				recs := events(mem.Records())
				if got := recs[len(recs)-1]; got != tc.want {
					t.Errorf("last transition %q, want %q", got, tc.want)
				}
			})
		})
	}
}

// TestClassifierSeesTheDescription: a custom classifier gets the answer's
// error_description, scrubbed of the secrets the request carried, so it
// can tell apart answers that share a code.
func TestClassifierSeesTheDescription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.setFault(fault{kind: "status", status: 400, code: "invalid_request",
			desc: "token tok-refresh-0 of client app-secret is locked; try later"}, 1)
		var seen []string
		cl := policy.ClassifierFunc(func(o policy.Outcome) policy.Verdict {
			if o.ErrorCode == "invalid_request" {
				seen = append(seen, o.Description)
				if strings.Contains(o.Description, "try later") {
					return policy.Verdict{Class: policy.Transient, Cause: "locked"}
				}
			}
			return policy.Classify(o)
		})
		s, mem := newTestSession(t, fe, WithClassifier(cl))
		defer s.Close()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if diff := cmp.Diff([]string{"token [redacted] of client [redacted] is locked; try later"}, seen); diff != "" {
			t.Errorf("descriptions the classifier saw (-want +got):\n%s", diff)
		}
		want := []string{"expire: access token expired", "refresh: access token expired", "fail: locked", "retry: retry due", "succeed"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// TestSameClient: a fallback authenticates as the same client when it is a
// Client with the same token endpoint, client id and credentials.
func TestSameClient(t *testing.T) {
	key := &PrivateKeyJWT{KeyFile: "key.pem"}
	base := Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret"}
	client := func(change func(*Endpoint)) *Client {
		e := base
		change(&e)
		c, err := NewClient(e)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	primary := client(func(*Endpoint) {})
	withKey := client(func(e *Endpoint) { e.ClientSecret, e.Assertion = "", key })
	for _, tc := range []struct {
		name     string
		primary  Refresher
		fallback Refresher
		want     bool
	}{
		{"client_credentials of the same client", primary, client(func(e *Endpoint) { e.Grant = GrantClientCredentials; e.Scopes = []string{"api"} }), true},
		{"another client id", primary, client(func(e *Endpoint) { e.ClientID = "robot" }), false},
		{"another secret", primary, client(func(e *Endpoint) { e.ClientSecret = "new-secret" }), false},
		{"another authentication style", primary, client(func(e *Endpoint) { e.AuthStyle = AuthBody }), false},
		{"another token endpoint", primary, client(func(e *Endpoint) { e.TokenURL = "https://other.example/token" }), false},
		{"the same assertion", withKey, client(func(e *Endpoint) { e.ClientSecret, e.Assertion, e.Grant = "", key, GrantClientCredentials }), true},
		{"another assertion", withKey, client(func(e *Endpoint) { e.ClientSecret, e.Assertion = "", &PrivateKeyJWT{KeyFile: "key.pem"} }), false},
		{"a secret and an assertion", primary, withKey, false},
		{"a RefresherFunc", primary, RefresherFunc(func(context.Context, Token) (Token, error) { return Token{}, nil }), false},
	} {
		if got := sameClient(tc.primary, tc.fallback); got != tc.want {
			t.Errorf("%s: sameClient = %v, want %v", tc.name, got, tc.want)
		}
	}
}
