package simserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/sim/simserver"
)

// scenario parses a scenario whose server answers at once (latency 0), so
// that a mock clock need not move while a request waits.
func scenario(t *testing.T, extra string) *sim.Scenario {
	t.Helper()
	sc, err := sim.Parse("test.yaml", []byte("name: t\nduration: 3h\ntoken: {ttl: 1h, rotate: true, reuse_detection: true}\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// user is an application's own client pointed at a scenario's server over
// a real listener, on a mock clock.
type user struct {
	t    *testing.T
	mock *clock.Mock
	srv  *simserver.Server
	url  string
}

func newUser(t *testing.T, sc *sim.Scenario) *user {
	t.Helper()
	mock := clock.NewMock()
	srv, err := simserver.New(sc, mock)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &user{t: t, mock: mock, srv: srv, url: ts.URL}
}

// refresh posts a refresh_token grant and returns the status and the body.
func (u *user) refresh(rt string) (int, map[string]any, http.Header) {
	u.t.Helper()
	resp, err := http.PostForm(u.url+simserver.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	return resp.StatusCode, m, resp.Header
}

// call calls the resource server with access and returns the status and
// the challenge.
func (u *user) call(access string) (int, string) {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.url+simserver.ResourcePath, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestRotationAndReuseDetection refreshes as a user's own client would:
// the server rotates the refresh token, accepts the new access token, and
// revokes the family when the retired refresh token comes back.
func TestRotationAndReuseDetection(t *testing.T) {
	u := newUser(t, scenario(t, "server: {latency: 0s}\n"))
	pair, err := u.srv.Login(0)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Expiry.Equal(sim.Epoch().Add(time.Hour)) || pair.ExpiresIn != time.Hour {
		t.Errorf("login pair expires at %v (in %v), want the epoch plus 1h", pair.Expiry, pair.ExpiresIn)
	}
	if code, _ := u.call(pair.Access); code != http.StatusOK {
		t.Errorf("login token: resource server answered %d", code)
	}
	u.mock.Add(10 * time.Minute)
	code, body, _ := u.refresh(pair.Refresh)
	if code != http.StatusOK || body["expires_in"] != 3600.0 || body["refresh_token"] == pair.Refresh || body["access_token"] == nil {
		t.Fatalf("refresh answered %d %v", code, body)
	}
	if code, _ := u.call(body["access_token"].(string)); code != http.StatusOK {
		t.Errorf("new token: resource server answered %d", code)
	}
	if code, body, _ := u.refresh(pair.Refresh); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("retired refresh token: %d %v, want 400 invalid_grant", code, body)
	}
	if st := u.srv.Stats(); len(st.RevokedFamilies) != 1 || st.TokenRequests != 2 {
		t.Errorf("stats %+v: want family 0 revoked by reuse detection, 2 token requests", st)
	}
	newest := body["refresh_token"]
	if code, _, _ := u.refresh(newest.(string)); code != http.StatusBadRequest {
		t.Errorf("the revoked family's newest refresh token answered %d, want 400", code)
	}
}

// TestFaultAnswers checks each endpoint fault's answer at the HTTP level.
func TestFaultAnswers(t *testing.T) {
	cases := []struct {
		fault  string
		status int
		check  func(t *testing.T, body map[string]any, h http.Header)
	}{
		{"{from: 0s, to: 1m, kind: status, status: 502}", 502, func(t *testing.T, _ map[string]any, h http.Header) {
			if h.Get("Content-Type") != "text/html" {
				t.Errorf("a proxy's 502 is an HTML page, got %q", h.Get("Content-Type"))
			}
		}},
		{"{from: 0s, to: 1m, kind: status, status: 401}", 401, func(t *testing.T, b map[string]any, _ http.Header) {
			if b["error"] != "invalid_request" {
				t.Errorf("a 401 fault without error: body %v, want invalid_request", b)
			}
		}},
		{"{from: 0s, to: 1m, kind: status, status: 400, error: invalid_client}", 400, func(t *testing.T, b map[string]any, _ http.Header) {
			if b["error"] != "invalid_client" {
				t.Errorf("body %v, want invalid_client", b)
			}
		}},
		{"{from: 0s, to: 1m, kind: status, status: 429, retry_after: 1500ms}", 429, func(t *testing.T, _ map[string]any, h http.Header) {
			if h.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q, want whole seconds rounded up, 2", h.Get("Retry-After"))
			}
		}},
		{"{from: 0s, to: 1m, kind: html200}", 200, func(t *testing.T, b map[string]any, h http.Header) {
			if b != nil || h.Get("Content-Type") != "text/html" {
				t.Errorf("html200 answered %v (%s)", b, h.Get("Content-Type"))
			}
		}},
		{"{from: 0s, to: 1m, kind: malformed}", 200, func(t *testing.T, b map[string]any, _ http.Header) {
			if b != nil {
				t.Errorf("malformed answered valid JSON %v", b)
			}
		}},
		{"{at: 0s, kind: revoke}", 400, func(t *testing.T, b map[string]any, _ http.Header) {
			if b["error"] != "invalid_grant" {
				t.Errorf("revoke answered %v", b)
			}
		}},
		{"{from: 0s, to: 1m, kind: lost_response}", 502, nil},
		{"{from: 0s, to: 1m, kind: crash_holder, restart: 5s}", 502, func(t *testing.T, _ map[string]any, h http.Header) {
			if h.Get(simserver.CrashHeader) != "5s" {
				t.Errorf("%s: %q, want the restart delay 5s", simserver.CrashHeader, h.Get(simserver.CrashHeader))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			u := newUser(t, scenario(t, "server: {latency: 0s, faults: ["+c.fault+"]}\n"))
			pair, _ := u.srv.Login(0)
			code, body, h := u.refresh(pair.Refresh)
			if code != c.status {
				t.Fatalf("status %d, want %d", code, c.status)
			}
			if c.check != nil {
				c.check(t, body, h)
			}
		})
	}
}

// TestLostResponsePerforms checks that a lost answer's refresh was
// performed: the refresh token presented is retired, and the one after it
// was never seen by the client.
func TestLostResponsePerforms(t *testing.T) {
	u := newUser(t, scenario(t, "server: {latency: 0s, faults: [{from: 0s, to: 1m, kind: lost_response}]}\n"))
	pair, _ := u.srv.Login(0)
	if code, _, _ := u.refresh(pair.Refresh); code != http.StatusBadGateway {
		t.Fatalf("lost response answered %d", code)
	}
	u.mock.Add(time.Minute)
	if code, body, _ := u.refresh(pair.Refresh); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the consumed refresh token answered %d %v, want 400 invalid_grant", code, body)
	}
}

// TestResourceServer checks the resource server's judgement: by its own
// clock, an expired token; tokens issued before a reject_access instant;
// every token within a reject_access window.
func TestResourceServer(t *testing.T) {
	u := newUser(t, scenario(t, "server: {latency: 0s, faults: [{at: 20m, kind: reject_access}, {from: 40m, to: 50m, kind: reject_access}]}\n"))
	pair, _ := u.srv.Login(0)
	u.mock.Add(20 * time.Minute)
	code, challenge := u.call(pair.Access)
	if code != http.StatusUnauthorized || !strings.Contains(challenge, "access token rejected") || !strings.HasPrefix(challenge, "Bearer ") {
		t.Errorf("a token issued before reject_access: %d %q", code, challenge)
	}
	_, body, _ := u.refresh(pair.Refresh)
	fresh := body["access_token"].(string)
	if code, _ := u.call(fresh); code != http.StatusOK {
		t.Errorf("a token issued at the reject_access instant: %d, want 200", code)
	}
	u.mock.Add(20 * time.Minute)
	if code, challenge := u.call(fresh); code != http.StatusUnauthorized || !strings.Contains(challenge, "every access token rejected") {
		t.Errorf("within a reject_access window: %d %q", code, challenge)
	}
	u.mock.Add(40 * time.Minute) // 1h20m: the fresh token, issued at 20m, expired at 1h20m
	if code, challenge := u.call(fresh); code != http.StatusUnauthorized || !strings.Contains(challenge, "expired by the server's clock") {
		t.Errorf("an expired token: %d %q", code, challenge)
	}
	if code, _ := u.call("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("an unknown token: %d", code)
	}
}

// TestCapacity checks that the requests beyond server_capacity within one
// second get 503.
func TestCapacity(t *testing.T) {
	u := newUser(t, scenario(t, "server: {latency: 0s}\nfleet: {sessions: 3, server_capacity: 2}\n"))
	var got []int
	for i := range 3 {
		pair, _ := u.srv.Login(i)
		code, _, _ := u.refresh(pair.Refresh)
		got = append(got, code)
	}
	u.mock.Add(time.Second)
	pair, _ := u.srv.Login(2)
	code, _, _ := u.refresh(pair.Refresh)
	got = append(got, code)
	if want := []int{200, 200, 503, 200}; !equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if _, err := u.srv.Login(3); err == nil {
		t.Errorf("Login of a session beyond the fleet succeeded")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRefusedOverListener checks that refused closes the connection of a
// real listener without an answer.
func TestRefusedOverListener(t *testing.T) {
	u := newUser(t, scenario(t, "server: {latency: 0s, faults: [{from: 0s, to: 1m, kind: refused}]}\n"))
	pair, _ := u.srv.Login(0)
	_, err := http.PostForm(u.url+simserver.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.Refresh}})
	if err == nil {
		t.Fatal("a refused request got an answer")
	}
}

// TestTransport checks the in-process transport: a refused request fails
// with ECONNREFUSED before it is written; a hanging one ends with its
// context; any other counts as written.
func TestTransport(t *testing.T) {
	sc := scenario(t, "server: {latency: 0s, faults: [{from: 0s, to: 1m, kind: refused}, {from: 1m, to: 2m, kind: hang}]}\n")
	mock := clock.NewMock()
	srv, _ := simserver.New(sc, mock)
	pair, _ := srv.Login(0)
	hc := &http.Client{Transport: srv.Transport()}
	post := func(ctx context.Context) (*http.Response, bool, error) {
		wrote := false
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote = true }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://token.example"+simserver.TokenPath,
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.Refresh}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		return resp, wrote, err
	}
	if _, wrote, err := post(context.Background()); !errors.Is(err, syscall.ECONNREFUSED) || wrote {
		t.Errorf("refused: %v (written: %v), want ECONNREFUSED, not written", err, wrote)
	}
	mock.Add(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, wrote, err := post(ctx); !errors.Is(err, context.Canceled) || !wrote {
		t.Errorf("hang: %v (written: %v), want the context's error, written", err, wrote)
	}
	mock.Add(time.Minute)
	resp, wrote, err := post(context.Background())
	if err != nil || resp.StatusCode != http.StatusOK || !wrote {
		t.Fatalf("after the faults: %v %v (written: %v)", resp, err, wrote)
	}
	resp.Body.Close()
}

// sleeper is a clock that waits with a context, as authfsm conform's does;
// it records the waits and returns at once.
type sleeper struct {
	clock.Clock
	waits []time.Duration
}

func (s *sleeper) SleepContext(ctx context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return ctx.Err()
}

// TestLatencyWaitsOnTheClock checks that the answer waits the server's
// latency on its clock, through SleepContext when the clock has it.
func TestLatencyWaitsOnTheClock(t *testing.T) {
	sc := scenario(t, "server: {latency: 120ms}\n")
	clk := &sleeper{Clock: clock.NewMock()}
	srv, _ := simserver.New(sc, clk)
	pair, _ := srv.Login(0)
	req := httptest.NewRequest(http.MethodPost, simserver.TokenPath,
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.Refresh}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || len(clk.waits) != 1 || clk.waits[0] != 120*time.Millisecond {
		t.Errorf("answer %d after waits %v, want 200 after one wait of 120ms", rec.Code, clk.waits)
	}
}

// TestSessionAgainstScenario points a real oauth.Client at a scenario's
// server over a listener: its refresh through a 502 window fails
// transiently, and after the window it gets the rotated pair.
func TestSessionAgainstScenario(t *testing.T) {
	sc := scenario(t, "server: {latency: 0s, faults: [{from: 0s, to: 1m, kind: status, status: 502}]}\n")
	u := newUser(t, sc)
	pair, _ := u.srv.Login(0)
	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: u.url + simserver.TokenPath, ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	cur := session.Token{Access: session.Secret(pair.Access), Refresh: session.Secret(pair.Refresh)}
	_, err = client.Refresh(context.Background(), cur)
	var ee *session.EndpointError
	if !errors.As(err, &ee) || ee.Status != http.StatusBadGateway {
		t.Fatalf("refresh within the 502 window: %v", err)
	}
	u.mock.Add(time.Minute)
	tok, err := client.Refresh(context.Background(), cur)
	if err != nil || tok.Refresh == cur.Refresh || tok.Expiry.Sub(tok.Issued) != time.Hour {
		t.Fatalf("refresh after the window: %v, %v", tok, err)
	}
	if code, _ := u.call(tok.Access.Reveal()); code != http.StatusOK {
		t.Errorf("the new access token: %d", code)
	}
}
