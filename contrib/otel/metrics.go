// Package authfsmotel records the metrics of authfsm sessions with
// OpenTelemetry, from the sessions' hooks (hooks.Hooks).
//
// It is a module of its own, github.com/authfsm/authfsm/contrib/otel, so
// that the core module does not depend on OpenTelemetry.
//
// Create one Metrics on a MeterProvider and install its hooks in every
// session:
//
//	m, err := authfsmotel.New(provider) // nil: otel.GetMeterProvider()
//	s, err := session.New(ctx, client, session.Token{}, session.WithID("api"),
//		session.WithHooks(m.Hooks()))
//
// The instruments follow the style of the semantic conventions'
// http.client.request.duration:
//
//	authfsm.session.state      UpDownCounter (observed), {session}: open sessions, by authfsm.state (every state reported, zero included)
//	authfsm.refresh.attempts   Counter, {attempt}: refresh requests sent
//	authfsm.refresh.duration   Histogram, s: how long refresh requests took
//	authfsm.refresh.throttled  Counter, {attempt}: attempts the shared throttle kept from being sent
//	authfsm.store.errors       Counter, {error}: failures of the token store or coordinator, by authfsm.store.operation
//	authfsm.token.expiry       Gauge (observed), s: the earliest access-token expiry among open sessions, as Unix time
//
// authfsm.refresh.attempts and authfsm.refresh.duration carry
// authfsm.refresh.outcome (success, failure), authfsm.refresh.class (the
// policy class: ok, transient, rate_limited, permanent, suspect),
// http.response.status_code when an answer arrived, and, on failure only,
// error.type: the answer's OAuth2 error code when it is a registered one
// (invalid_grant, temporarily_unavailable, …), the class otherwise.
//
// No attribute is a session id: a fleet of sessions (see session.Manager)
// would make one series per end user. The hooks carry no secrets
// (fingerprints at most), and no instrument uses even those.
package authfsmotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/ops"
	"github.com/authfsm/authfsm/states"
)

// ScopeName is the instrumentation scope of the meter New uses.
const ScopeName = "github.com/authfsm/authfsm/contrib/otel"

// The instruments' names.
const (
	// SessionStateName counts open sessions by state.
	SessionStateName = "authfsm.session.state"
	// RefreshAttemptsName counts refresh requests.
	RefreshAttemptsName = "authfsm.refresh.attempts"
	// RefreshDurationName is the histogram of refresh request durations.
	RefreshDurationName = "authfsm.refresh.duration"
	// RefreshThrottledName counts attempts the shared throttle held back.
	RefreshThrottledName = "authfsm.refresh.throttled"
	// StoreErrorsName counts failures of the token store or coordinator.
	StoreErrorsName = "authfsm.store.errors"
	// TokenExpiryName is the earliest access-token expiry among open
	// sessions, in Unix seconds.
	TokenExpiryName = "authfsm.token.expiry"
)

// The attribute keys.
const (
	// StateKey is the session state of authfsm.session.state.
	StateKey = attribute.Key("authfsm.state")
	// OutcomeKey is "success" or "failure".
	OutcomeKey = attribute.Key("authfsm.refresh.outcome")
	// ClassKey is the outcome's policy class (policy.Class.String).
	ClassKey = attribute.Key("authfsm.refresh.class")
	// ErrorTypeKey is the semantic conventions' error.type, set on failure.
	ErrorTypeKey = attribute.Key("error.type")
	// StatusCodeKey is the semantic conventions' http.response.status_code.
	StatusCodeKey = attribute.Key("http.response.status_code")
	// StoreOperationKey is hooks.StoreError.Op: save, publish, read,
	// acquire, mark.
	StoreOperationKey = attribute.Key("authfsm.store.operation")
)

// DefaultDurationBoundaries are the explicit bucket boundaries advised for
// authfsm.refresh.duration, those the semantic conventions advise for
// http.client.request.duration.
var DefaultDurationBoundaries = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// knownCodes are the OAuth2 error codes error.type may be: RFC 6749's and
// those of the extensions a token endpoint answers with. Any other code
// (a server may send anything) is reported as the class, to bound the
// attribute's values.
var knownCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "access_denied": true,
	"server_error": true, "temporarily_unavailable": true,
	"slow_down": true, "authorization_pending": true, "expired_token": true, // RFC 8628
	"invalid_dpop_proof": true, "use_dpop_nonce": true, // RFC 9449
	"invalid_target": true, // RFC 8707
}

// Option configures New.
type Option func(*config)

type config struct {
	attrs      []attribute.KeyValue
	boundaries []float64
}

// WithAttributes adds attributes with fixed values to every measurement,
// such as the authorization server's name when one process talks to
// several.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// WithDurationBoundaries sets the explicit bucket boundaries advised for
// authfsm.refresh.duration, in seconds (DefaultDurationBoundaries when not
// given). A View configured on the MeterProvider overrides the advice.
func WithDurationBoundaries(b []float64) Option {
	return func(c *config) { c.boundaries = append([]float64(nil), b...) }
}

// Metrics records the metrics of the sessions whose hooks it made. It is
// safe for concurrent use by any number of sessions.
type Metrics struct {
	census *ops.Census
	attrs  []attribute.KeyValue
	// stateSets are the attribute sets of authfsm.session.state, by state.
	stateSets []metric.MeasurementOption
	common    metric.MeasurementOption

	attempts  metric.Int64Counter
	duration  metric.Float64Histogram
	throttled metric.Int64Counter
	storeErrs metric.Int64Counter
	reg       metric.Registration
}

// New creates the instruments on a meter of mp (otel.GetMeterProvider()
// when mp is nil), scope ScopeName. It fails when the provider refuses an
// instrument or the callback of the observed ones.
func New(mp metric.MeterProvider, opts ...Option) (*Metrics, error) {
	cfg := config{boundaries: DefaultDurationBoundaries}
	for _, o := range opts {
		o(&cfg)
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	m := &Metrics{census: ops.NewCensus(), attrs: cfg.attrs, common: metric.WithAttributes(cfg.attrs...)}
	for _, s := range states.States() {
		m.stateSets = append(m.stateSets, metric.WithAttributes(append(append([]attribute.KeyValue(nil), cfg.attrs...), StateKey.String(s.String()))...))
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	sessions, err := meter.Int64ObservableUpDownCounter(SessionStateName, metric.WithUnit("{session}"),
		metric.WithDescription("Open authfsm sessions, by state."))
	add(err)
	expiry, err := meter.Float64ObservableGauge(TokenExpiryName, metric.WithUnit("s"),
		metric.WithDescription("The earliest access-token expiry among open sessions that hold a token and are not revoked (refreshed here, adopted from another process of the family, or set), as Unix time; not reported when no open session holds one. It may be in the past: a session that could not refresh in time."))
	add(err)
	m.attempts, err = meter.Int64Counter(RefreshAttemptsName, metric.WithUnit("{attempt}"),
		metric.WithDescription("Refresh requests sent."))
	add(err)
	m.duration, err = meter.Float64Histogram(RefreshDurationName, metric.WithUnit("s"),
		metric.WithDescription("Duration of refresh requests, a fallback grant included."),
		metric.WithExplicitBucketBoundaries(cfg.boundaries...))
	add(err)
	m.throttled, err = meter.Int64Counter(RefreshThrottledName, metric.WithUnit("{attempt}"),
		metric.WithDescription("Refresh attempts the shared throttle kept from being sent."))
	add(err)
	m.storeErrs, err = meter.Int64Counter(StoreErrorsName, metric.WithUnit("{error}"),
		metric.WithDescription("Failures of the token store or of the token family's coordinator."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts, earliest := m.census.Snapshot()
		for i, n := range counts {
			o.ObserveInt64(sessions, n, m.stateSets[i])
		}
		if !earliest.IsZero() {
			o.ObserveFloat64(expiry, float64(earliest.UnixNano())/1e9, m.common)
		}
		return nil
	}, sessions, expiry)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Unregister stops the observed instruments (authfsm.session.state,
// authfsm.token.expiry) from being reported; the counters keep what they
// recorded.
func (m *Metrics) Unregister() error { return m.reg.Unregister() }

// refreshAttrs are the attributes of a refresh request's measurements.
func (m *Metrics) refreshAttrs(d hooks.RequestDone) metric.MeasurementOption {
	attrs := append(make([]attribute.KeyValue, 0, len(m.attrs)+4), m.attrs...)
	if d.Class == policy.OK {
		attrs = append(attrs, OutcomeKey.String(ops.OutcomeSuccess), ClassKey.String(d.Class.String()))
	} else {
		et := d.Class.String()
		if knownCodes[d.Code] {
			et = d.Code
		}
		attrs = append(attrs, OutcomeKey.String(ops.OutcomeFailure), ClassKey.String(d.Class.String()), ErrorTypeKey.String(et))
	}
	if d.Status != 0 {
		attrs = append(attrs, StatusCodeKey.Int(d.Status))
	}
	return metric.WithAttributes(attrs...)
}

// Hooks returns hooks for session.WithHooks that feed m. Call it once per
// session (in a session.Manager's factory, for instance). Sessions may
// also share one Hooks value when their ids (session.WithID) differ;
// authfsm.session.state and authfsm.token.expiry tell sessions apart by id
// within one Hooks value, so sessions sharing both a Hooks value and an id
// count as one.
//
// Every open session that holds a token counts in authfsm.token.expiry:
// its expiry is known from Opened and from every token it installs (a
// successful refresh, a pair adopted from the family another process
// refreshed, SetToken), so each process sharing one family reports the
// token it holds. A revoked session counts again from its next token.
func (m *Metrics) Hooks() hooks.Hooks {
	ctx := context.Background()
	return hooks.Chain(m.census.Hooks(), hooks.Hooks{
		RequestDone: func(d hooks.RequestDone) {
			attrs := m.refreshAttrs(d)
			m.attempts.Add(ctx, 1, attrs)
			m.duration.Record(ctx, d.Duration.Seconds(), attrs)
		},
		StoreError: func(e hooks.StoreError) {
			m.storeErrs.Add(ctx, 1, metric.WithAttributes(append(append([]attribute.KeyValue(nil), m.attrs...), StoreOperationKey.String(e.Op))...))
		},
		Throttled: func(hooks.Throttled) { m.throttled.Add(ctx, 1, m.common) },
	})
}
