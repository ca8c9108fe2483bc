package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/throttle"
)

// An Option configures a Session.
type Option func(*config)

type config struct {
	policy        policy.Policy
	classifier    policy.Classifier
	refreshAhead  time.Duration
	timeout       time.Duration
	maxRetryAfter time.Duration
	clock         clock.Clock
	realClock     bool         // clock is clock.New()'s: see requestContext
	driver        DrivingClock // clock, when it drives the goroutines and the I/O
	logger        *slog.Logger
	sink          audit.Sink
	store         Store
	seed          uint64
	seeded        bool
	fallback      Refresher
	failFast      bool
	id            string
	coord         Coordinator
	reuseGrace    time.Duration
	solo          bool
	lease         time.Duration
	hooks         hooks.Hooks
	base          context.Context
	throttle      *throttle.Throttle
	// login is WithLogin's; loginElsewhere and loginHint a login made
	// elsewhere's (login.Elsewhere).
	login          Login
	loginElsewhere bool
	loginHint      string
	revoker        Revoker
}

// WithPolicy sets the retry policy; the default is policy.Default().
func WithPolicy(p policy.Policy) Option { return func(c *config) { c.policy = p } }

// WithClassifier sets how refresh outcomes are classified; the default is
// policy.DefaultClassifier, under which no proxy answer can revoke a session.
func WithClassifier(cl policy.Classifier) Option { return func(c *config) { c.classifier = cl } }

// WithRefreshAhead starts refreshing d before the token expires (never
// earlier than half its lifetime), so an outage shorter than d goes unseen.
// With a coordinator the session starts up to a tenth of that margin (at
// most 30 s) earlier still, by its own seeded jitter (WithSeed), so that
// the processes of a family do not all start at once.
// The default is states.DefaultRefreshAhead, 5 minutes; 0 refreshes only at
// expiry or on a rejection.
func WithRefreshAhead(d time.Duration) Option { return func(c *config) { c.refreshAhead = d } }

// WithRequestTimeout sets the deadline of each refresh attempt (default
// states.DefaultRequestTimeout, 10 s). It is independent of the callers' contexts: one
// caller giving up never cancels the refresh the others wait for.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithMaxRetryAfter bounds how long a server's Retry-After may delay the next
// attempt (default states.DefaultMaxRetryAfter).
func WithMaxRetryAfter(d time.Duration) Option { return func(c *config) { c.maxRetryAfter = d } }

// WithClock sets the clock; the default is clock.New(). Tests pass a
// *clock.Mock, or run under testing/synctest with the default.
//
// The clock measures the token's life, the refresh-ahead point, the retry
// delays and each request's timeout (WithRequestTimeout). The requests
// themselves are real I/O: on a clock other than clock.New() a request
// whose timeout passed on that clock still gets real time to be answered,
// its timeout but at most one second, before it is ended. So a test may
// move a mock clock past a refresh in flight (mock.Add(time.Hour)) against
// a real server: the request is answered, and neither it nor the retries
// the move schedules fail for want of real time. A server that never
// answers fails a request once the mock clock passed its timeout and that
// real time has gone by. A clock that implements DrivingClock drives the
// I/O too: a request ends when its timeout passes on that clock alone.
func WithClock(cl clock.Clock) Option { return func(c *config) { c.clock = cl } }

// WithLogger sets the logger for refresh failures (Warn), revocations
// (Error) and successes (Debug), and for hooks, sinks or handlers that
// panicked (Error, see hooks.Hooks). Secrets never reach it. The default
// discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithAudit sends a record of every transition to sink (for example an
// audit.ChainWriter, an audit.SlogSink, or audit.Multi of both). The sink
// is called like a hook: outside the session lock, one record at a time,
// in order; a panic in it is recovered and logged (see hooks.Hooks), and a
// record is never dropped.
func WithAudit(sink audit.Sink) Option { return func(c *config) { c.sink = sink } }

// WithStore persists every new token pair to st, and loads the initial pair
// from it when New is given none, so a restarted client resumes with its
// refresh token.
func WithStore(st Store) Option { return func(c *config) { c.store = st } }

// WithSeed seeds the session's jitter: its retry delays and, with a
// coordinator, the spread of its refresh point (states.MaxRefreshSpread).
// The default is a random seed, drawn when the session is created, so that
// a fleet of clients that failed together does not retry in lockstep and
// the processes of a family do not refresh at one instant; fix it to
// reproduce a schedule, and give each process of a family its own.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed, c.seeded = seed, true } }

// WithFallback sets a grant that re-authenticates the session when its
// refresh token is refused for good (or missing): typically an oauth.Client
// with oauth.GrantClientCredentials, or a RefresherFunc that logs in again. The
// fallback runs within the same attempt, so its failures are classified and
// retried like any other, and later attempts use it directly. A refusal of
// the client itself (invalid_client, unauthorized_client) is not a refused
// refresh token: when the session's Refresher says that the fallback
// authenticates as the same client (a method SameClient(Refresher) bool,
// which oauth.Client has: the same token endpoint, client id, secret,
// authentication style and assertion) it is not tried, and the session
// stops at once with ErrMisconfigured; any other fallback (another client,
// a RefresherFunc) is tried. A suspect refusal (invalid_request) calls for the fallback only
// once it is final (policy.SuspectRepeats answers in a row).
func WithFallback(r Refresher) Option { return func(c *config) { c.fallback = r } }

// WithFailFast sets what Token does when the token is unusable and the
// session is in backoff: fail at once with a *RefreshError (true, the
// default) or wait for the next attempt until the caller's context ends
// (false). ContextWithWait overrides it per call.
func WithFailFast(failFast bool) Option { return func(c *config) { c.failFast = failFast } }

// WithCoordinator makes the session one process of a token family shared
// through c (a FileCoordinator on one host, a Redis coordinator across
// hosts): it refreshes only while holding the family's lease, publishes each
// new pair to c, adopts the pairs other processes publish, and loads its
// initial pair from c when New is given none. It replaces WithStore.
func WithCoordinator(c Coordinator) Option { return func(cfg *config) { cfg.coord = c } }

// WithReuseGrace tells a session how long the authorization
// server still accepts a refresh token after rotating it: Auth0's "Rotation
// Overlap Period" (leeway, default 0), Okta's grace period (leeway, 0–60 s,
// default 30 s), Cognito's RetryGracePeriodSeconds (0–60 s, default 0),
// Ory Hydra's oauth2.grant.refresh_token.rotation_grace_period (default 0,
// at most 5 minutes). Set it no longer than the server's.
// Inside it, a process taking over from a holder that vanished mid-refresh
// may present that refresh token again; outside it, the session uses its
// fallback grant or stops with states.CrashedHolderCause rather than make
// the server revoke the whole family. A session of its own uses it too:
// after a refresh whose answer was lost (the server may have rotated the
// token), its retry is due within half the grace, whatever its policy
// says. The default, 0, assumes no grace.
func WithReuseGrace(d time.Duration) Option { return func(c *config) { c.reuseGrace = d } }

// WithLease sets how long a coordinated session's refresh lease lasts: the
// others wait that long before taking over from a holder that vanished,
// and a holder whose store is down keeps it that long without renewing
// it. It is at least the request timeout plus LeaseMargin, so that the
// lease outlasts the request it covers. The default, states.DefaultLease
// (30 s), rides out a shared store's short outage (a Redis failover takes
// 10 to 30 s) between a refresh and its publish, and lets the others take
// over from a holder that crashed well within the default refresh-ahead
// margin (5 min). The simulator's share.lease is the same setting, with
// the same default.
func WithLease(d time.Duration) Option { return func(c *config) { c.lease = d } }

// WithSoloWhenStoreDown lets a coordinated session whose shared store is
// unreachable refresh on its own once its token is unusable. With a
// rotating server the other processes' copies of the refresh token then
// die, so it is off by default: the session keeps serving a valid token and
// retries the store on its policy's schedule.
func WithSoloWhenStoreDown(solo bool) Option { return func(c *config) { c.solo = solo } }

// WithBaseContext makes refresh requests carry ctx's values (trace
// context, request-scoped loggers), but not its cancellation or deadline:
// a refresh has its own per-attempt deadline and is shared by every
// caller. The default is context.Background().
func WithBaseContext(ctx context.Context) Option {
	return func(c *config) { c.base = context.WithoutCancel(ctx) }
}

// WithID names the session in audit records, hook calls and log lines
// (session=ID). The default is no name: records carry an empty session and
// log lines no session attribute.
func WithID(id string) Option { return func(c *config) { c.id = id } }

type waitKey struct{}

// ContextWithWait returns a context that makes Session.Token (and the Transport and
// TokenSource using it) wait through backoff for the next attempt (wait
// true), or fail fast with a *RefreshError (wait false), whatever the
// session's WithFailFast option says.
func ContextWithWait(ctx context.Context, wait bool) context.Context {
	return context.WithValue(ctx, waitKey{}, wait)
}

func (c *config) failFastFor(ctx context.Context) bool {
	if w, ok := ctx.Value(waitKey{}).(bool); ok {
		return !w
	}
	return c.failFast
}

// WithThrottle makes the session ask t before each attempt, t being shared
// by every session of the process on the same token endpoint
// (throttle.New).
func WithThrottle(t *throttle.Throttle) Option { return func(c *config) { c.throttle = t } }
