package authfsmprom_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authfsm/authfsm/audit"
	authfsmprom "github.com/authfsm/authfsm/contrib/prometheus"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/ops"
	"github.com/authfsm/authfsm/states"
)

// scrape runs h as GET /metrics and parses the exposition text into its
// samples ("name{labels}" → value) and the whole text.
func scrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return parse(t, rec.Body.String()), rec.Body.String()
}

func parse(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// check compares the samples named in want with got; a NaN in want means
// the sample must be absent.
func check(t *testing.T, when string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w != w: // NaN: must be absent
			if ok {
				t.Errorf("%s: %s = %v, want it absent", when, k, g)
			}
		case !ok:
			t.Errorf("%s: %s absent, want %v", when, k, w)
		case g != w:
			t.Errorf("%s: %s = %v, want %v", when, k, g, w)
		}
	}
}

var absent = func() float64 { var z float64; return z / z }()

func sessionsGauge(valid, expired, refreshing, backoff, waiting, revoked float64) map[string]float64 {
	return map[string]float64{
		`authfsm_sessions{state="valid"}`:      valid,
		`authfsm_sessions{state="expired"}`:    expired,
		`authfsm_sessions{state="refreshing"}`: refreshing,
		`authfsm_sessions{state="backoff"}`:    backoff,
		`authfsm_sessions{state="waiting"}`:    waiting,
		`authfsm_sessions{state="revoked"}`:    revoked,
	}
}

func merge(ms ...map[string]float64) map[string]float64 {
	out := make(map[string]float64)
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// flakyStore fails its first fails saves.
type flakyStore struct {
	session.MemoryStore
	fails atomic.Int32
}

func (f *flakyStore) Save(ctx context.Context, t session.Token) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.MemoryStore.Save(ctx, t)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// TestScrape drives real sessions through a 503, a 429 and a success, a
// failed save and a close, and reads each step from a /metrics handler.
func TestScrape(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := authfsmprom.New()
	reg.MustRegister(m)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})

	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var calls atomic.Int32
		var apiExpiry time.Time
		r := session.RefresherFunc(func(ctx context.Context, cur session.Token) (session.Token, error) {
			time.Sleep(200 * time.Millisecond) // the request's round trip
			switch calls.Add(1) {
			case 1:
				return session.Token{}, &session.EndpointError{Status: http.StatusServiceUnavailable}
			case 2:
				return session.Token{}, &session.EndpointError{Status: http.StatusTooManyRequests}
			}
			apiExpiry = time.Now().Add(time.Hour)
			return session.Token{Access: "access-new", Refresh: "refresh-new", Expiry: apiExpiry}, nil
		})
		store := &flakyStore{}
		store.fails.Store(1)
		api, err := session.New(ctx, r, session.Token{Refresh: "refresh-0"}, session.WithID("api"),
			session.WithPolicy(policy.Constant{Wait: time.Second}), session.WithStore(store), session.WithHooks(m.Hooks()))
		if err != nil {
			t.Fatal(err)
		}
		idleExpiry := time.Now().Add(30 * time.Minute)
		idle, err := session.New(ctx, session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
			return session.Token{}, errors.New("not called")
		}), session.Token{Access: "access-idle", Refresh: "refresh-idle", Expiry: idleExpiry},
			session.WithID("idle"), session.WithHooks(m.Hooks()))
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got, _ := scrape(t, handler)
		check(t, "opened", got, merge(sessionsGauge(1, 1, 0, 0, 0, 0), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`:                              unix(idleExpiry),
			`authfsm_refresh_attempts_total{class="transient",outcome="failure"}`: 0,
			`authfsm_refresh_attempts_total{class="ok",outcome="success"}`:        0,
			`authfsm_refresh_duration_seconds_count`:                              0,
			`authfsm_store_errors_total{op="save"}`:                               0,
			`authfsm_throttled_attempts_total`:                                    0,
		}))

		if _, err := api.Token(ctx); err == nil {
			t.Fatal("Token succeeded on a 503")
		}
		synctest.Wait()
		got, _ = scrape(t, handler)
		check(t, "after the 503", got, merge(sessionsGauge(1, 0, 0, 1, 0, 0), map[string]float64{
			`authfsm_refresh_attempts_total{class="transient",outcome="failure"}`: 1,
			`authfsm_refresh_duration_seconds_count`:                              1,
			`authfsm_refresh_duration_seconds_sum`:                                0.2,
			`authfsm_refresh_duration_seconds_bucket{le="0.25"}`:                  1,
			`authfsm_refresh_duration_seconds_bucket{le="0.1"}`:                   0,
		}))

		time.Sleep(1500 * time.Millisecond) // the retry, answered 429
		synctest.Wait()
		got, _ = scrape(t, handler)
		check(t, "after the 429", got, merge(sessionsGauge(1, 0, 0, 1, 0, 0), map[string]float64{
			`authfsm_refresh_attempts_total{class="rate_limited",outcome="failure"}`: 1,
			`authfsm_refresh_duration_seconds_count`:                                 2,
		}))

		time.Sleep(1500 * time.Millisecond) // the second retry succeeds; its save fails
		synctest.Wait()
		got, _ = scrape(t, handler)
		check(t, "after the success", got, merge(sessionsGauge(2, 0, 0, 0, 0, 0), map[string]float64{
			`authfsm_refresh_attempts_total{class="transient",outcome="failure"}`:    1,
			`authfsm_refresh_attempts_total{class="rate_limited",outcome="failure"}`: 1,
			`authfsm_refresh_attempts_total{class="ok",outcome="success"}`:           1,
			`authfsm_refresh_attempts_total{class="permanent",outcome="failure"}`:    0,
			`authfsm_refresh_duration_seconds_count`:                                 3,
			`authfsm_refresh_duration_seconds_sum`:                                   0.6000000000000001,
			`authfsm_store_errors_total{op="save"}`:                                  1,
			// The idle session's token expires first.
			`authfsm_token_expiry_timestamp_seconds`: unix(idleExpiry),
		}))
		if apiExpiry.IsZero() || !apiExpiry.After(idleExpiry) {
			t.Fatalf("api's token expires at %v, want after the idle one's %v", apiExpiry, idleExpiry)
		}

		idle.Close()
		got, _ = scrape(t, handler)
		check(t, "idle closed", got, merge(sessionsGauge(1, 0, 0, 0, 0, 0), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`: unix(apiExpiry),
		}))
		api.Close()
	})

	// The last scrape goes through a real server.
	srv := httptest.NewServer(handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	check(t, "all closed", parse(t, text), merge(sessionsGauge(0, 0, 0, 0, 0, 0), map[string]float64{
		`authfsm_token_expiry_timestamp_seconds`:                       absent,
		`authfsm_refresh_attempts_total{class="ok",outcome="success"}`: 1,
		`authfsm_store_errors_total{op="save"}`:                        1,
	}))
	for _, want := range []string{
		"# TYPE authfsm_sessions gauge",
		"# TYPE authfsm_refresh_attempts_total counter",
		"# TYPE authfsm_refresh_duration_seconds histogram",
		"# TYPE authfsm_store_errors_total counter",
		"# TYPE authfsm_throttled_attempts_total counter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the exposition lacks %q", want)
		}
	}
	for _, secret := range []string{"access-new", "refresh-new", "refresh-0", "access-idle", `"api"`, `"idle"`} {
		if strings.Contains(text, secret) {
			t.Errorf("the exposition mentions %s", secret)
		}
	}
}

// TestExpiredAtStart: a session created with an expired token makes its
// first transitions before Opened reports it; the gauge counts it once, in
// the state Opened and the later transitions say.
func TestExpiredAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m := authfsmprom.New()
		reg.MustRegister(m)
		handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		var expiry time.Time
		r := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
			expiry = time.Now().Add(time.Hour)
			return session.Token{Access: "access-1", Expiry: expiry}, nil
		})
		var seen []string
		var mu sync.Mutex
		mine := hooks.Hooks{
			Opened: func(i hooks.SessionInfo) { mu.Lock(); seen = append(seen, "opened "+i.State.String()); mu.Unlock() },
			Transition: func(r audit.Record) {
				mu.Lock()
				seen = append(seen, fmt.Sprintf("%v->%v", r.From, r.To))
				mu.Unlock()
			},
		}
		s, err := session.New(context.Background(), r,
			session.Token{Access: "access-0", Refresh: "refresh-0", Expiry: time.Now().Add(-time.Second)},
			session.WithHooks(authfsmprom.Chain(m.Hooks(), mine)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		synctest.Wait()
		got, _ := scrape(t, handler)
		check(t, "refreshed", got, merge(sessionsGauge(1, 0, 0, 0, 0, 0), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`: unix(expiry),
		}))
		mu.Lock()
		defer mu.Unlock()
		t.Logf("hooks in order: %v", seen) // today: two transitions, then Opened
	})
}

// TestRevokedAndSetToken: a revoked session leaves the expiry; a SetToken
// brings it back with the new token's expiry, and a refresh moves it on.
func TestRevokedAndSetToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m := authfsmprom.New()
		reg.MustRegister(m)
		handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		ctx := context.Background()
		var refreshed time.Time
		r := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
			refreshed = time.Now().Add(time.Hour)
			return session.Token{Access: "access-2", Refresh: "refresh-2", Expiry: refreshed}, nil
		})
		first := time.Now().Add(time.Hour)
		s, err := session.New(ctx, r, session.Token{Access: "access-0", Refresh: "refresh-0", Expiry: first},
			session.WithHooks(m.Hooks()), session.WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		synctest.Wait()
		got, _ := scrape(t, handler)
		check(t, "opened", got, map[string]float64{`authfsm_token_expiry_timestamp_seconds`: unix(first)})

		s.Revoke()
		synctest.Wait()
		got, _ = scrape(t, handler)
		check(t, "revoked", got, merge(sessionsGauge(0, 0, 0, 0, 0, 1), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`: absent,
		}))

		set := time.Now().Add(time.Minute)
		if err := s.SetToken(ctx, session.Token{Access: "access-1", Refresh: "refresh-1", Expiry: set}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got, _ = scrape(t, handler)
		check(t, "set", got, merge(sessionsGauge(1, 0, 0, 0, 0, 0), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`: unix(set),
		}))

		time.Sleep(2 * time.Minute) // expiry, then a refresh on the session's own timer
		synctest.Wait()
		if st := s.Status(); st.State != states.Valid {
			t.Fatalf("state %v, want valid", st.State)
		}
		got, _ = scrape(t, handler)
		check(t, "refreshed", got, merge(sessionsGauge(1, 0, 0, 0, 0, 0), map[string]float64{
			`authfsm_token_expiry_timestamp_seconds`: unix(refreshed),
		}))
	})
}

// TestConcurrentSessions: many sessions on one Metrics, each with its own
// Hooks, fail once and then succeed concurrently; once all are closed every
// state is back at zero.
func TestConcurrentSessions(t *testing.T) {
	const n = 50
	reg := prometheus.NewPedanticRegistry()
	m := authfsmprom.New()
	reg.MustRegister(m)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var calls atomic.Int32
				r := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
					time.Sleep(50 * time.Millisecond)
					if calls.Add(1) == 1 {
						return session.Token{}, errors.New("connection refused")
					}
					return session.Token{Access: "a", Expiry: time.Now().Add(time.Hour)}, nil
				})
				s, err := session.New(context.Background(), r, session.Token{Refresh: "r"},
					session.WithID(fmt.Sprint("s", i)), session.WithPolicy(policy.Constant{Wait: time.Second}),
					session.WithFailFast(false), session.WithHooks(m.Hooks()))
				if err != nil {
					t.Error(err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := s.Token(ctx); err != nil {
					t.Error(err)
				}
				scrape(t, handler) // scrapes race with the hooks
				s.Close()
			})
		}
		wg.Wait()
	})
	got, _ := scrape(t, handler)
	check(t, "all closed", got, merge(sessionsGauge(0, 0, 0, 0, 0, 0), map[string]float64{
		`authfsm_refresh_attempts_total{class="transient",outcome="failure"}`: n,
		`authfsm_refresh_attempts_total{class="ok",outcome="success"}`:        n,
		`authfsm_refresh_duration_seconds_count`:                              2 * n,
		`authfsm_token_expiry_timestamp_seconds`:                              absent,
	}))
}

// TestSharedHooks: one Hooks value may serve sessions with distinct ids.
func TestSharedHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m := authfsmprom.New()
		reg.MustRegister(m)
		h := m.Hooks()
		exp := time.Now().Add(time.Hour)
		r := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
			return session.Token{}, &session.EndpointError{Status: 400, Code: "invalid_grant"}
		})
		a, _ := session.New(context.Background(), r, session.Token{Access: "a", Refresh: "r", Expiry: exp},
			session.WithID("a"), session.WithHooks(h))
		b, _ := session.New(context.Background(), r, session.Token{Refresh: "r"}, session.WithID("b"), session.WithHooks(h))
		defer a.Close()
		if _, err := b.Token(context.Background()); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("Token = %v, want revoked", err)
		}
		synctest.Wait()
		got, _ := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		check(t, "a valid, b revoked", got, merge(sessionsGauge(1, 0, 0, 0, 0, 1), map[string]float64{
			`authfsm_refresh_attempts_total{class="permanent",outcome="failure"}`: 1,
			`authfsm_token_expiry_timestamp_seconds`:                              unix(exp),
		}))
		b.Close()
		got, _ = scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		check(t, "b closed", got, sessionsGauge(1, 0, 0, 0, 0, 0))
	})
}

// TestOptions: the namespace prefixes every name, constant labels reach
// every series, buckets are the ones given.
func TestOptions(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := authfsmprom.New(authfsmprom.WithNamespace("myapp"),
		authfsmprom.WithConstLabels(prometheus.Labels{"issuer": "auth.example"}),
		authfsmprom.WithDurationBuckets([]float64{0.5, 1}))
	reg.MustRegister(m)
	h := m.Hooks()
	h.Throttled(hooks.Throttled{Session: "x", Attempt: 2})
	h.StoreError(hooks.StoreError{Session: "x", Op: "publish", Err: errors.New("down")})
	h.RequestDone(hooks.RequestDone{Session: "x", Class: policy.Transient, Duration: 700 * time.Millisecond})
	got, text := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	check(t, "options", got, map[string]float64{
		`myapp_authfsm_sessions{issuer="auth.example",state="valid"}`:                                     0,
		`myapp_authfsm_throttled_attempts_total{issuer="auth.example"}`:                                   1,
		`myapp_authfsm_store_errors_total{issuer="auth.example",op="publish"}`:                            1,
		`myapp_authfsm_refresh_attempts_total{class="transient",issuer="auth.example",outcome="failure"}`: 1,
		`myapp_authfsm_refresh_duration_seconds_bucket{issuer="auth.example",le="0.5"}`:                   0,
		`myapp_authfsm_refresh_duration_seconds_bucket{issuer="auth.example",le="1"}`:                     1,
	})
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimPrefix(sc.Text(), "# HELP "), "# TYPE ")
		if line != "" && !strings.HasPrefix(line, "myapp_authfsm_") {
			t.Errorf("unprefixed line %q", sc.Text())
		}
	}
}

// TestChain: every non-nil hook of every value is called, in order.
func TestChain(t *testing.T) {
	var got []string
	rec := func(s string) func(hooks.SessionInfo) {
		return func(hooks.SessionInfo) { got = append(got, s) }
	}
	h := authfsmprom.Chain(
		hooks.Hooks{Opened: rec("first")},
		hooks.Hooks{},
		hooks.Hooks{Opened: rec("second"), Closed: rec("closed")},
		hooks.Hooks{Opened: rec("third")},
	)
	h.Opened(hooks.SessionInfo{})
	h.Closed(hooks.SessionInfo{})
	if want := "first second third closed"; strings.Join(got, " ") != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	if h.Transition != nil || h.RequestDone != nil || h.Throttled != nil {
		t.Error("Chain made a hook that no value has")
	}
}

// TestSharedFamilyBothReport: two processes of one token family, each with
// its own Metrics and /metrics, share a FileCoordinator. One refreshes and
// publishes; the other adopts the published pair instead of refreshing.
// Both report the expiry of the token they hold.
func TestSharedFamilyBothReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "family.json")
		var requests atomic.Int32
		var issued time.Time
		r := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
			requests.Add(1)
			issued = time.Now().Add(2 * time.Hour)
			return session.Token{Access: "access-1", Refresh: "refresh-1", Expiry: issued}, nil
		})
		start := time.Now()
		initial := session.Token{Access: "access-0", Refresh: "refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
		process := func(id string, ahead time.Duration) (*session.Session, http.Handler) {
			t.Helper()
			reg := prometheus.NewPedanticRegistry()
			m := authfsmprom.New()
			reg.MustRegister(m)
			s, err := session.New(context.Background(), r, initial, session.WithID(id), session.WithHooks(m.Hooks()),
				session.WithCoordinator(&session.FileCoordinator{Path: path}), session.WithRefreshAhead(ahead))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
		}
		a, ha := process("a", 30*time.Minute) // refreshes at half its token's lifetime
		b, hb := process("b", 0)              // adopts once its own token expires

		time.Sleep(61 * time.Minute)
		synctest.Wait()
		if n, g := requests.Load(), b.Status().Generation; n != 1 || g != 1 {
			t.Fatalf("%d token requests, b at generation %d: want a's one refresh, adopted by b", n, g)
		}
		for _, p := range []struct {
			name string
			s    *session.Session
			h    http.Handler
		}{{"a (refreshed)", a, ha}, {"b (adopted)", b, hb}} {
			got, _ := scrape(t, p.h)
			check(t, p.name, got, merge(sessionsGauge(1, 0, 0, 0, 0, 0), map[string]float64{
				`authfsm_token_expiry_timestamp_seconds`: unix(issued),
			}))
			if exp := p.s.Status().Expiry; !exp.Equal(issued) {
				t.Errorf("%s holds a token expiring at %v, want %v", p.name, exp, issued)
			}
		}
	})
}

// TestVocabulary: every metric is registered under the name, help text,
// type and labels of its ops.Metric* definition, the vocabulary the
// agent's /metrics writes too.
func TestVocabulary(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := authfsmprom.New(authfsmprom.WithNamespace("app"))
	reg.MustRegister(m)
	s, err := session.New(t.Context(), session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
		return session.Token{Access: "a", Expiry: time.Now().Add(time.Hour)}, nil
	}), session.Token{Access: "a", Expiry: time.Now().Add(time.Hour)}, session.WithHooks(m.Hooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		var labels []string
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		got[f.GetName()] = fmt.Sprintf("%s|%s|%v", f.GetHelp(), strings.ToLower(f.GetType().String()), labels)
	}
	for _, d := range []ops.MetricDesc{ops.MetricSessions, ops.MetricRefreshAttempts, ops.MetricRefreshDuration,
		ops.MetricTokenExpiry, ops.MetricStoreErrors, ops.MetricThrottledAttempts} {
		labels := slices.Sorted(slices.Values(d.Labels)) // as the registry orders them
		want := fmt.Sprintf("%s|%s|%v", d.Help, d.Type, labels)
		if g := got[d.FullName("app")]; g != want {
			t.Errorf("%s: %q, want %q", d.FullName("app"), g, want)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d families, want the 6 of ops.Metric*: %v", len(got), got)
	}
}
