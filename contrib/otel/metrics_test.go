package authfsmotel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	authfsmotel "github.com/authfsm/authfsm/contrib/otel"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return r, mp
}

// collected is one collection, by instrument name.
type collected map[string]metricdata.Metrics

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	c := make(collected)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != authfsmotel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, authfsmotel.ScopeName)
		}
		for _, m := range sm.Metrics {
			c[m.Name] = m
		}
	}
	return c
}

func (c collected) metric(t *testing.T, name, unit string) metricdata.Metrics {
	t.Helper()
	m, ok := c[name]
	if !ok {
		t.Fatalf("no %s among %v", name, c.names())
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	return m
}

func (c collected) names() []string {
	var ns []string
	for n := range c {
		ns = append(ns, n)
	}
	return ns
}

// sum returns the value of the sum's point with exactly attrs, and whether
// there is one.
func sum(t *testing.T, m metricdata.Metrics, monotonic bool, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", m.Name, m.Data)
	}
	if s.IsMonotonic != monotonic {
		t.Errorf("%s: monotonic %v, want %v", m.Name, s.IsMonotonic, monotonic)
	}
	set := attribute.NewSet(attrs...)
	for _, p := range s.DataPoints {
		if p.Attributes.Equals(&set) {
			return p.Value, true
		}
	}
	return 0, false
}

func wantSum(t *testing.T, when string, m metricdata.Metrics, monotonic bool, want int64, attrs ...attribute.KeyValue) {
	t.Helper()
	got, ok := sum(t, m, monotonic, attrs...)
	if !ok || got != want {
		t.Errorf("%s: %s%v = %d (present %v), want %d", when, m.Name, attrs, got, ok, want)
	}
}

func wantStates(t *testing.T, when string, c collected, want map[states.State]int64) {
	t.Helper()
	m := c.metric(t, authfsmotel.SessionStateName, "{session}")
	for _, s := range states.States() {
		wantSum(t, when, m, false, want[s], authfsmotel.StateKey.String(s.String()))
	}
}

func expiry(t *testing.T, c collected) (float64, bool) {
	t.Helper()
	m, ok := c[authfsmotel.TokenExpiryName]
	if !ok {
		return 0, false
	}
	if m.Unit != "s" {
		t.Errorf("%s: unit %q, want s", m.Name, m.Unit)
	}
	g := m.Data.(metricdata.Gauge[float64])
	if len(g.DataPoints) != 1 {
		return 0, false
	}
	return g.DataPoints[0].Value, true
}

func wantExpiry(t *testing.T, when string, c collected, want time.Time) {
	t.Helper()
	got, ok := expiry(t, c)
	switch {
	case want.IsZero() && ok:
		t.Errorf("%s: expiry %v reported, want none", when, got)
	case !want.IsZero() && (!ok || got != float64(want.UnixNano())/1e9):
		t.Errorf("%s: expiry %v (present %v), want %v", when, got, ok, float64(want.UnixNano())/1e9)
	}
}

func histogram(t *testing.T, c collected) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m := c.metric(t, authfsmotel.RefreshDurationName, "s")
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float64 histogram", m.Name, m.Data)
	}
	var all metricdata.HistogramDataPoint[float64]
	for _, p := range h.DataPoints {
		all.Count += p.Count
		all.Sum += p.Sum
		all.Bounds = p.Bounds
		if all.BucketCounts == nil {
			all.BucketCounts = make([]uint64, len(p.BucketCounts))
		}
		for i, n := range p.BucketCounts {
			all.BucketCounts[i] += n
		}
	}
	return all
}

var (
	failure   = authfsmotel.OutcomeKey.String("failure")
	success   = authfsmotel.OutcomeKey.String("success")
	transient = authfsmotel.ClassKey.String("transient")
	ok        = authfsmotel.ClassKey.String("ok")
)

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

// TestInstruments drives real sessions through a 503, a 429 and a success,
// a failed save and a close, and reads each step through a ManualReader.
func TestInstruments(t *testing.T) {
	reader, mp := newReader(t)
	m, err := authfsmotel.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var calls atomic.Int32
		var apiExpiry time.Time
		r := session.RefresherFunc(func(ctx context.Context, cur session.Token) (session.Token, error) {
			time.Sleep(200 * time.Millisecond) // the request's round trip
			switch calls.Add(1) {
			case 1:
				return session.Token{}, &session.EndpointError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable"}
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
		c := collect(t, reader)
		wantStates(t, "opened", c, map[states.State]int64{states.Valid: 1, states.Expired: 1})
		wantExpiry(t, "opened", c, idleExpiry)

		if _, err := api.Token(ctx); err == nil {
			t.Fatal("Token succeeded on a 503")
		}
		synctest.Wait()
		c = collect(t, reader)
		wantStates(t, "after the 503", c, map[states.State]int64{states.Valid: 1, states.Backoff: 1})
		attempts := c.metric(t, authfsmotel.RefreshAttemptsName, "{attempt}")
		wantSum(t, "after the 503", attempts, true, 1, failure, transient,
			authfsmotel.ErrorTypeKey.String("temporarily_unavailable"), authfsmotel.StatusCodeKey.Int(503))
		if h := histogram(t, c); h.Count != 1 || h.Sum != 0.2 {
			t.Errorf("after the 503: duration count %d sum %v, want 1 and 0.2", h.Count, h.Sum)
		}

		time.Sleep(1500 * time.Millisecond) // the retry, answered 429
		synctest.Wait()
		c = collect(t, reader)
		wantSum(t, "after the 429", c.metric(t, authfsmotel.RefreshAttemptsName, "{attempt}"), true, 1,
			failure, authfsmotel.ClassKey.String("rate_limited"), authfsmotel.ErrorTypeKey.String("rate_limited"),
			authfsmotel.StatusCodeKey.Int(429))

		time.Sleep(1500 * time.Millisecond) // the second retry succeeds; its save fails
		synctest.Wait()
		c = collect(t, reader)
		wantStates(t, "after the success", c, map[states.State]int64{states.Valid: 2})
		wantSum(t, "after the success", c.metric(t, authfsmotel.RefreshAttemptsName, "{attempt}"), true, 1,
			success, ok, authfsmotel.StatusCodeKey.Int(200))
		wantSum(t, "after the success", c.metric(t, authfsmotel.StoreErrorsName, "{error}"), true, 1,
			authfsmotel.StoreOperationKey.String("save"))
		h := histogram(t, c)
		if h.Count != 3 {
			t.Errorf("duration count %d, want 3", h.Count)
		}
		if fmt.Sprint(h.Bounds) != fmt.Sprint(authfsmotel.DefaultDurationBoundaries) {
			t.Errorf("duration bounds %v, want %v", h.Bounds, authfsmotel.DefaultDurationBoundaries)
		}
		// 0.2 s each: all in the bucket (0.1, 0.25].
		if i := 6; h.BucketCounts[i] != 3 || h.Bounds[i] != 0.25 {
			t.Errorf("buckets %v of %v, want all three in (0.1, 0.25]", h.BucketCounts, h.Bounds)
		}
		wantExpiry(t, "after the success", c, idleExpiry) // the idle session's token expires first
		if apiExpiry.IsZero() || !apiExpiry.After(idleExpiry) {
			t.Fatalf("api's token expires at %v, want after the idle one's %v", apiExpiry, idleExpiry)
		}

		idle.Close()
		c = collect(t, reader)
		wantStates(t, "idle closed", c, map[states.State]int64{states.Valid: 1})
		wantExpiry(t, "idle closed", c, apiExpiry)
		api.Close()
		c = collect(t, reader)
		wantStates(t, "all closed", c, nil)
		wantExpiry(t, "all closed", c, time.Time{})
	})
}

// TestErrorType: error.type is a registered OAuth2 code as it is, any other
// code as the class; a success has none.
func TestErrorType(t *testing.T) {
	reader, mp := newReader(t)
	m, err := authfsmotel.New(mp, authfsmotel.WithAttributes(attribute.String("authfsm.issuer", "auth.example")),
		authfsmotel.WithDurationBoundaries([]float64{0.5, 1}))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Hooks()
	h.RequestDone(hooks.RequestDone{Class: policy.Permanent, Status: 400, Code: "invalid_grant", Duration: time.Second})
	h.RequestDone(hooks.RequestDone{Class: policy.Transient, Status: 400, Code: "made_up_by_the_server", Duration: time.Second})
	h.RequestDone(hooks.RequestDone{Class: policy.Transient, Duration: 10 * time.Second})
	h.RequestDone(hooks.RequestDone{Class: policy.OK, Status: 200, Duration: time.Second})
	h.Throttled(hooks.Throttled{Attempt: 2})
	h.StoreError(hooks.StoreError{Op: "publish", Err: errors.New("down")})
	c := collect(t, reader)
	issuer := attribute.String("authfsm.issuer", "auth.example")
	attempts := c.metric(t, authfsmotel.RefreshAttemptsName, "{attempt}")
	for _, want := range [][]attribute.KeyValue{
		{issuer, failure, authfsmotel.ClassKey.String("permanent"), authfsmotel.ErrorTypeKey.String("invalid_grant"), authfsmotel.StatusCodeKey.Int(400)},
		{issuer, failure, transient, authfsmotel.ErrorTypeKey.String("transient"), authfsmotel.StatusCodeKey.Int(400)},
		{issuer, failure, transient, authfsmotel.ErrorTypeKey.String("transient")},
		{issuer, success, ok, authfsmotel.StatusCodeKey.Int(200)},
	} {
		wantSum(t, "attempts", attempts, true, 1, want...)
	}
	if n := len(attempts.Data.(metricdata.Sum[int64]).DataPoints); n != 4 {
		t.Errorf("%d attempt series, want 4", n)
	}
	wantSum(t, "throttled", c.metric(t, authfsmotel.RefreshThrottledName, "{attempt}"), true, 1, issuer)
	wantSum(t, "store", c.metric(t, authfsmotel.StoreErrorsName, "{error}"), true, 1, issuer, authfsmotel.StoreOperationKey.String("publish"))
	wantSum(t, "state", c.metric(t, authfsmotel.SessionStateName, "{session}"), false, 0, issuer, authfsmotel.StateKey.String("valid"))
	hist := histogram(t, c)
	if fmt.Sprint(hist.Bounds, hist.BucketCounts) != "[0.5 1] [0 3 1]" {
		t.Errorf("bounds %v counts %v, want [0.5 1] [0 3 1]", hist.Bounds, hist.BucketCounts)
	}
}

// TestConcurrentSessions: many sessions on one Metrics, each with its own
// Hooks, fail once and then succeed concurrently while the reader
// collects; once all are closed every state is back at zero.
func TestConcurrentSessions(t *testing.T) {
	const n = 50
	reader, mp := newReader(t)
	m, err := authfsmotel.New(mp)
	if err != nil {
		t.Fatal(err)
	}
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
				collect(t, reader) // collections race with the hooks
				s.Close()
			})
		}
		wg.Wait()
	})
	c := collect(t, reader)
	wantStates(t, "all closed", c, nil)
	wantExpiry(t, "all closed", c, time.Time{})
	attempts := c.metric(t, authfsmotel.RefreshAttemptsName, "{attempt}")
	wantSum(t, "all closed", attempts, true, n, failure, transient, authfsmotel.ErrorTypeKey.String("transient"))
	wantSum(t, "all closed", attempts, true, n, success, ok, authfsmotel.StatusCodeKey.Int(200))
}

// TestGlobalProvider: a nil MeterProvider means the global one.
func TestGlobalProvider(t *testing.T) {
	reader, mp := newReader(t)
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	defer otel.SetMeterProvider(prev)
	m, err := authfsmotel.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Hooks().Throttled(hooks.Throttled{})
	wantSum(t, "global", collect(t, reader).metric(t, authfsmotel.RefreshThrottledName, "{attempt}"), true, 1)
}

// TestUnregister: after Unregister the observed instruments are no longer
// reported.
func TestUnregister(t *testing.T) {
	reader, mp := newReader(t)
	m, err := authfsmotel.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	m.Hooks().Opened(hooks.SessionInfo{Session: "x", State: states.Valid, Expiry: time.Now().Add(time.Hour)})
	if _, found := collect(t, reader)[authfsmotel.TokenExpiryName]; !found {
		t.Fatal("no expiry before Unregister")
	}
	if err := m.Unregister(); err != nil {
		t.Fatal(err)
	}
	c := collect(t, reader)
	for _, name := range []string{authfsmotel.SessionStateName, authfsmotel.TokenExpiryName} {
		if _, found := c[name]; found {
			t.Errorf("%s reported after Unregister", name)
		}
	}
}

// TestChain: every non-nil hook of every value is called, in order.
func TestChain(t *testing.T) {
	var got []string
	rec := func(s string) func(hooks.SessionInfo) {
		return func(hooks.SessionInfo) { got = append(got, s) }
	}
	h := authfsmotel.Chain(
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
// its own Metrics, share a FileCoordinator. One refreshes and publishes;
// the other adopts the published pair instead of refreshing, then sets a
// token of its own (a re-login). Each reports the expiry of the token it
// holds.
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
		process := func(id string, ahead time.Duration) (*session.Session, *sdkmetric.ManualReader) {
			t.Helper()
			reader, mp := newReader(t)
			m, err := authfsmotel.New(mp)
			if err != nil {
				t.Fatal(err)
			}
			s, err := session.New(context.Background(), r, initial, session.WithID(id), session.WithHooks(m.Hooks()),
				session.WithCoordinator(&session.FileCoordinator{Path: path}), session.WithRefreshAhead(ahead))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, reader
		}
		a, ra := process("a", 30*time.Minute) // refreshes at half its token's lifetime
		b, rb := process("b", 0)              // adopts once its own token expires

		time.Sleep(61 * time.Minute)
		synctest.Wait()
		if n, g := requests.Load(), b.Status().Generation; n != 1 || g != 1 {
			t.Fatalf("%d token requests, b at generation %d: want a's one refresh, adopted by b", n, g)
		}
		wantExpiry(t, "a refreshed", collect(t, ra), a.Status().Expiry)
		wantExpiry(t, "b adopted", collect(t, rb), issued)

		set := time.Now().Add(10 * time.Minute)
		if err := b.SetToken(context.Background(), session.Token{Access: "relogin", Refresh: "relogin-r", Expiry: set}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantExpiry(t, "b set a token", collect(t, rb), set)
	})
}
