package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/integration/internal/syncbuf"
	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// env is one authorization server (fosite) and its resource server behind
// one nginx, all on loopback. Stopping the authorization server leaves the
// resource server up, as in production where they are separate services.
type env struct {
	srv *tokenserver.Server
	px  *nginx.Proxy
}

func newEnv(t *testing.T, sc tokenserver.Config, nc nginx.Config) *env {
	t.Helper()
	srv, err := tokenserver.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	nc.Backend, nc.Resource = srv.Addr(), srv.ResourceAddr()
	return &env{srv: srv, px: nginx.Start(t, nc)}
}

// tokenURL and resourceURL go through nginx.
func (e *env) tokenURL() string    { return e.px.URL() + tokenserver.TokenPath }
func (e *env) resourceURL() string { return e.px.URL() + tokenserver.ResourcePath }

// login obtains a fresh token family directly from the backend and returns
// it as the session's initial token, expiring after lifetime on the
// client's clock (shorter than the server's, so a test need not wait for
// the server's expiry to make the client refresh).
func (e *env) login(t *testing.T, lifetime time.Duration) (session.Token, tokenserver.TokenResponse) {
	t.Helper()
	tr, err := e.srv.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if lifetime <= 0 {
		lifetime = time.Duration(tr.ExpiresIn) * time.Second
	}
	return session.Token{
		Access: session.Secret(tr.AccessToken), Refresh: session.Secret(tr.RefreshToken),
		Issued: now, Expiry: now.Add(lifetime),
	}, tr
}

// client returns a token endpoint client through nginx for grant, sending
// through rt.
func (e *env) client(t *testing.T, grant oauth.Grant, rt http.RoundTripper) *oauth.Client {
	t.Helper()
	c, err := oauth.NewClient(oauth.Endpoint{
		TokenURL: e.tokenURL(), ClientID: e.srv.ClientID(), ClientSecret: session.Secret(e.srv.ClientSecret()),
		Grant: grant, Scopes: scopesFor(grant), HTTPClient: &http.Client{Transport: rt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func scopesFor(g oauth.Grant) []string {
	if g == oauth.GrantClientCredentials {
		return []string{"api"}
	}
	return nil
}

// fastPolicy retries quickly and without jitter, so the schedule, and the
// bound on requests derived from it, are exact.
var fastPolicy = policy.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second}

// newSession starts a session on initial with an in-memory audit log and a
// logger writing into logs; options after the defaults override them.
func newSession(t *testing.T, r session.Refresher, initial session.Token, id string, opts ...session.Option) (*session.Session, *audit.Memory, *syncbuf.Buffer) {
	t.Helper()
	mem, logs := &audit.Memory{}, &syncbuf.Buffer{}
	all := append([]session.Option{
		session.WithID(id), session.WithSeed(1), session.WithPolicy(fastPolicy),
		session.WithRequestTimeout(time.Second), session.WithAudit(mem),
		session.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	s, err := session.New(t.Context(), r, initial, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		// The initial pair never reaches the log or the audit trail.
		secrets := []string{initial.Access.Reveal(), initial.Refresh.Reveal()}
		assertNoSecret(t, "session log", logs.String(), secrets...)
		assertNoSecret(t, "audit records", fmt.Sprintf("%+v", mem.Records()), secrets...)
		if t.Failed() {
			t.Logf("session log:\n%s", logs.String())
		}
	})
	return s, mem, logs
}

// tokenCounter is an http.RoundTripper that records every token request a
// client sends and the status that came back (0: no answer).
type tokenCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent []sentRequest
}

type sentRequest struct {
	At     time.Time
	Status int
}

func newTokenCounter() *tokenCounter {
	return &tokenCounter{base: http.DefaultTransport.(*http.Transport).Clone()}
}

func (c *tokenCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	at := time.Now()
	resp, err := c.base.RoundTrip(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	c.mu.Lock()
	c.sent = append(c.sent, sentRequest{At: at, Status: status})
	c.mu.Unlock()
	return resp, err
}

func (c *tokenCounter) requests() []sentRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sentRequest(nil), c.sent...)
}

// between counts the requests sent in [from, to).
func (c *tokenCounter) between(from, to time.Time) int {
	n := 0
	for _, r := range c.requests() {
		if !r.At.Before(from) && r.At.Before(to) {
			n++
		}
	}
	return n
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		}
	}
}

// transitions renders audit records as "from→to event: cause" lines, and
// collapses consecutive repeats of a two-line block (the fail/retry loop of
// a backoff) into one, so a sequence can be compared whatever the number of
// retries; the retries are counted separately.
func transitions(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		line := fmt.Sprintf("%s→%s %s", r.From, r.To, r.Event)
		if r.Cause != "" {
			line += ": " + r.Cause
		}
		out = append(out, line)
		if n := len(out); n >= 4 && out[n-4] == out[n-2] && out[n-3] == out[n-1] {
			out = out[:n-2]
		}
	}
	return out
}

// countEvents counts audit records with event name ev.
func countEvents(recs []audit.Record, ev string) int {
	n := 0
	for _, r := range recs {
		if r.Event.String() == ev {
			n++
		}
	}
	return n
}

// get calls url through hc and reports the status (0 and the error when
// there was no answer).
func get(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// assertNoSecret fails if any of the secrets occurs in text.
func assertNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a token", what)
		}
	}
}
