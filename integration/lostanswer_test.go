package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// The answer lost to the client's own deadline: fosite performs the
// refresh and rotates the refresh token, then holds its answer (the
// tokenserver's Delay fault) longer than the session's request timeout, so
// the session gives up on a refresh the server did. This is what a slow
// but healthy server meets when the client's deadline is too short for it.
const (
	lostTimeout = 2 * time.Second // the session's request timeout
	lostDelay   = 5 * time.Second // fosite's answer comes this late: lost
	noAnswer    = "no answer before the request deadline"
	lostNote    = "refresh token probably consumed by a refresh whose answer was lost (" + noAnswer + ")"
)

// TestLostAnswerTimeout: after a refresh that timed out once fosite had
// rotated the refresh token, the session retries with the same token.
// Without a reuse grace (fosite's own behaviour, and an agent profile's
// default) fosite refuses it and revokes the family: nothing can save it,
// and the session stops revoked with a cause that says the answer was
// lost, not merely that the server refused the grant. With a reuse grace
// (Ory Hydra's rotation_grace_period, WithReuseGrace) the retry is
// accepted and the session recovers, also when its policy would have
// retried only after the grace (the retry is due within half the grace).
func TestLostAnswerTimeout(t *testing.T) {
	const grace = 10 * time.Second
	slow := policy.Constant{Wait: 12 * time.Second} // alone, it would retry after the grace
	for _, c := range []struct {
		name  string
		grace time.Duration
		pol   policy.Policy
		want  []string
		end   states.State
	}{
		{"without reuse grace", 0, fastPolicy, append(expiryStart[:2:2],
			"refreshing→backoff fail: "+noAnswer,
			"backoff→refreshing retry: retry due",
			"refreshing→revoked deny: 400 invalid_grant: "+lostNote,
		), states.Revoked},
		{"inside the reuse grace", grace, fastPolicy, append(expiryStart[:2:2],
			"refreshing→backoff fail: "+noAnswer,
			"backoff→refreshing retry: retry due",
			"refreshing→valid succeed",
		), states.Valid},
		{"a policy slower than the reuse grace", grace, slow, append(expiryStart[:2:2],
			"refreshing→backoff fail: "+noAnswer,
			"backoff→refreshing retry: retry due",
			"refreshing→valid succeed",
		), states.Valid},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, tokenserver.Config{ReuseGrace: c.grace}, nginx.Config{})
			initial, _ := e.login(t, 300*time.Millisecond)
			e.srv.SetFault(tokenserver.Fault{Kind: tokenserver.Delay, Delay: lostDelay, Count: 1})
			s, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, newTokenCounter()), initial, "lost-timeout",
				session.WithRequestTimeout(lostTimeout), session.WithReuseGrace(c.grace), session.WithPolicy(c.pol))
			waitFor(t, "the end of the refresh cycle", 30*time.Second, func() bool {
				return countEvents(mem.Records(), "deny")+countEvents(mem.Records(), "succeed") > 0
			})
			checkAudit(t, mem, c.want)
			if got := s.Status().State; got != c.end {
				t.Errorf("ended %v, want %v", got, c.end)
			}
			counts := e.srv.Counts()
			if counts.Rotations < 1 {
				t.Fatalf("fosite rotated %d times: the delayed refresh was not performed, so no answer was lost", counts.Rotations)
			}
			recs := mem.Records()
			if c.grace == 0 {
				if counts.Reuse != 1 || counts.FamilyRevocations != 1 {
					t.Errorf("fosite saw %d reuses and revoked %d families; want the retry's one reuse, revoking the family", counts.Reuse, counts.FamilyRevocations)
				}
				_, err := s.Token(t.Context())
				var re *session.RevokedError
				if !errors.As(err, &re) || !strings.HasSuffix(re.Cause, lostNote) {
					t.Errorf("Token: %v, want a RevokedError whose cause ends %q", err, lostNote)
				}
				return
			}
			if counts.GracedReuse != 1 || counts.Reuse != 0 || counts.FamilyRevocations != 0 {
				t.Errorf("fosite: %d graced replays, %d reuses, %d family revocations; want 1, 0, 0", counts.GracedReuse, counts.Reuse, counts.FamilyRevocations)
			}
			// The retry was due half the grace after the lost request
			// was sent (just after the cycle started): well inside the
			// grace, the margin being the retry's to reach the server.
			var refreshAt, retryAt time.Time
			for _, r := range recs {
				switch r.Event {
				case states.Refresh:
					refreshAt = r.Time
				case states.Retry:
					retryAt = r.Time
				}
			}
			if d := retryAt.Sub(refreshAt); d >= grace {
				t.Errorf("retried %v after the lost request, want inside the grace (%v; due after half of it)", d, grace)
			}
		})
	}
}

// TestAgentLostAnswer reproduces TestAgentNonGoClient's lost answer on
// purpose: `authfsm agent` with a request timeout shorter than fosite's
// answer, no reuse grace, no fallback and no login. Its refresh-ahead
// request times out after fosite rotated the refresh token; the retry is
// refused (invalid_grant), the store, read again, holds nothing newer, and
// the agent's session is revoked. The audit record and the API's error say
// that the answer was lost — for an auditor, not the same event as a
// server that refused the grant.
func TestAgentLostAnswer(t *testing.T) {
	needTool(t, "curl")
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 3 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: refreshAhead, requestTimeout: lostTimeout,
	})
	// The agent holds its first token; its refresh-ahead request is the
	// next one fosite sees.
	e.srv.SetFault(tokenserver.Fault{Kind: tokenserver.Delay, Delay: lostDelay, Count: 1})
	waitFor(t, "the agent's revocation", 30*time.Second, func() bool {
		_, err := a.apiToken(t.Context())
		return err != nil && strings.Contains(err.Error(), "revoked")
	})
	_, err := a.apiToken(t.Context())
	if err == nil || !strings.Contains(err.Error(), lostNote) {
		t.Errorf("the agent's /v1/token: %v, want the revocation naming the lost answer (%q)", err, lostNote)
	}
	if err := a.stop(t); err != nil {
		t.Errorf("authfsm agent after SIGTERM: %v, want exit status 0", err)
	}
	seq := transitions(readAuditFile(t, a.auditPath))
	t.Logf("audit:\n%s", strings.Join(seq, "\n"))
	want := []string{
		"expired→refreshing refresh: token demanded",
		"refreshing→valid succeed",
		"valid→refreshing refresh_ahead: refresh-ahead point reached",
		"refreshing→backoff fail: " + noAnswer,
		"backoff→refreshing retry: retry due",
		"refreshing→revoked deny: 400 invalid_grant: " + lostNote,
	}
	if strings.Join(seq, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
	if c := e.srv.Counts(); c.Reuse != 1 || c.FamilyRevocations != 1 {
		t.Errorf("fosite saw %d reuses and revoked %d families; want 1 and 1", c.Reuse, c.FamilyRevocations)
	}
}
