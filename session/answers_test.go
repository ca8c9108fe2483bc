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
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/authfsm/authfsm/states"
)

// The answers of an authorization server that a client misreads easily:
// a refused client is not a dead refresh token, an invalid_request may be
// a storage conflict that a retry resolves, and an OAuth2 error is an
// answer, not a lost one.

const hydraConflict = fakeidp.HydraConflict

// sequenced returns a session whose refresher meets faults[i] at its i-th
// request (none after the last), with the test session's settings.
func sequenced(t *testing.T, fe *fakeEndpoint, faults []fault, opts ...Option) (*Session, *audit.Memory) {
	t.Helper()
	c := testClient(t, fe, testEndpoint{})
	n := 0
	r := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		fl := fault{}
		if n < len(faults) {
			fl = faults[n]
		}
		n++
		fe.SetFault(fl, 1)
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
				fe.SetFault(fault{Kind: "status", Status: tc.status, Code: tc.code}, 0)
				var logs lockedBuffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				fb := testClient(t, fe, testEndpoint{Grant: grantClientCredentials})
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
				// One request, and nothing more (oauth's AuthAutoDetect
				// would try the body once after Basic met invalid_client:
				// TestAuthStyleAutoDetectSession).
				want = []string{"refresh_token"}
				if diff := cmp.Diff(want, fe.Grants()); diff != "" {
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
		primary.SetFault(fault{Kind: "status", Status: 401, Code: "invalid_client"}, 0)
		secondary := newFakeEndpoint(time.Hour)
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		fb := testClient(t, secondary, testEndpoint{Grant: grantClientCredentials, ClientID: "robot", ClientSecret: "robot-secret"})
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
	hydra := fault{Kind: "status", Status: 400, Code: "invalid_request", Desc: hydraConflict}
	malformed := fault{Kind: "status", Status: 400, Code: "invalid_request"}
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
		{"invalid_request, a 502, invalid_request twice", []fault{malformed, {Kind: "status", Status: 502}, malformed, malformed},
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
				fe.Mu.Lock()
				for i, f := range fe.Forms {
					if rt := f.Get("refresh_token"); rt != "tok-refresh-0" {
						t.Errorf("request %d presented %q, want the unconsumed tok-refresh-0", i, rt)
					}
				}
				fe.Mu.Unlock()
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
	invalidGrant := fault{Kind: "status", Status: 400, Code: "invalid_grant"}
	for _, tc := range []struct {
		name  string
		first fault
		want  string
	}{
		{"JSON 500 server_error", fault{Kind: "status", Status: 500, Code: "server_error"}, "deny: 400 invalid_grant"},
		{"JSON 503 temporarily_unavailable", fault{Kind: "status", Status: 503, Code: "temporarily_unavailable"}, "deny: 400 invalid_grant"},
		{"proxy's 500 page", fault{Kind: "status", Status: 500},
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
// error_description, so it can tell apart answers that share a code (the
// oauth Client scrubs it of the secrets the request carried first).
func TestClassifierSeesTheDescription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_request",
			Desc: "the token is locked; try later"}, 1)
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
		if diff := cmp.Diff([]string{"the token is locked; try later"}, seen); diff != "" {
			t.Errorf("descriptions the classifier saw (-want +got):\n%s", diff)
		}
		want := []string{"expire: access token expired", "refresh: access token expired", "fail: locked", "retry: retry due", "succeed"}
		synctest.Wait() // the outbox may still be delivering on the refresh goroutine
		if diff := cmp.Diff(want, events(mem.Records())); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}
