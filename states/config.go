package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// DefaultMaxRetryAfter bounds how long a server's Retry-After may delay the
// next attempt when Config.MaxRetryAfter is zero.
const DefaultMaxRetryAfter = 5 * time.Minute

// DefaultRefreshAhead is the refresh-ahead margin that the runtime
// (session.New) and the simulator use unless told otherwise. Five minutes
// (azidentity's choice; Google's client libraries use 225 s, x/oauth2 only
// 10 s) hides an outage of the token endpoint shorter than that — a pod
// restart, a proxy's blip — behind a still-valid token, and costs nothing:
// a token is still refreshed once per lifetime. For short lifetimes the
// refresh point is capped at half the lifetime.
const DefaultRefreshAhead = 5 * time.Minute

// DefaultLease and LeaseMargin size the refresh lease of processes sharing
// a token family, in the runtime (session.WithLease) and the simulator
// (share.lease) alike: the lease lasts DefaultLease unless set, and never
// less than the request timeout plus LeaseMargin, so that it outlasts the
// request it covers. 30 s rides out a shared store's short outage (a Redis
// failover) between a refresh and its publish, and lets the others take
// over from a crashed holder well within DefaultRefreshAhead.
const (
	DefaultLease = 30 * time.Second
	LeaseMargin  = 5 * time.Second
)

// MinLifetime is the floor below which a token's lifetime is not trusted to
// pace refreshes. A refresh that yields a token living less than this
// (expires_in of 0.001, a JWT exp a moment away) still delivers the token,
// but the refresh cycle stays open: when the token dies, the next attempt
// waits for the retry policy's delay, as after a failure, so a server that
// issues such tokens draws refreshes at the policy's pace, not thousands a
// second. Real providers issue lifetimes of minutes or hours; one second
// leaves every plausible lifetime alone.
const MinLifetime = time.Second

// FreshWindow is how long after its issue a token obtained in answer to a
// rejection counts as fresh. A resource server that rejects such a token
// within the window (before accepting it) most likely rejects every token —
// a wrong audience or scope, a skewed clock — so the rejection fails the
// cycle's attempt and the retry policy paces the next one. A rejection
// after the window opens a new cycle, as any first rejection does; so an
// API that refuses every token draws at most one token request per window
// even from callers too rare to be paced.
const FreshWindow = time.Minute

// Config parameterises a Machine.
type Config struct {
	// Policy schedules retries; nil means policy.Default().
	Policy policy.Policy
	// RefreshAhead starts a refresh this long before the token expires, but
	// never earlier than half the token's lifetime after it was issued, so a
	// margin longer than the lifetime cannot cause a refresh loop. Zero
	// refreshes at expiry (or on a 401) only; callers that want the
	// default pass DefaultRefreshAhead.
	RefreshAhead time.Duration
	// MaxRetryAfter bounds a server's Retry-After; 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration

	// The settings below matter to processes sharing one token family
	// (session.Coordinator).

	// ReuseGrace is how long the authorization server still accepts a
	// refresh token after it rotated it (Auth0's "reuse interval", Okta's
	// "grace period", fosite's RefreshTokenRotationGracePeriod); zero when it
	// accepts none. Inside it, a process taking over from a holder that
	// vanished mid-refresh may present the refresh token again.
	ReuseGrace time.Duration
	// Fallback reports that the session has a fallback grant (such as
	// client_credentials) to use when the refresh token is spent.
	Fallback bool
	// SoloWhenStoreDown lets a process whose shared store is unreachable
	// refresh on its own once its token is unusable. With a rotating server
	// the new refresh token cannot be published, so the other processes'
	// copies die with it; that is why it is an explicit opt-in. By default a
	// process keeps serving its valid token and retries the store on its
	// policy's schedule.
	SoloWhenStoreDown bool
	// Shared reports that other processes may write the session's pair to
	// a store the session can read again (a token store or a family's
	// coordinator). A refusal of the refresh token is then not final at
	// once: the machine asks for the store to be re-read (Effects.Reread),
	// because another process may have refreshed or logged in since, and
	// the refusal only revokes once the store holds no newer pair.
	Shared bool
}

// Machine is the pure decision function. A Machine is immutable and safe for
// concurrent use; all per-session state lives in Data.
type Machine struct {
	policy        policy.Policy
	refreshAhead  time.Duration
	maxRetryAfter time.Duration
	reuseGrace    time.Duration
	fallback      bool
	solo          bool
	shared        bool
}

// NewMachine returns a Machine for cfg.
func NewMachine(cfg Config) *Machine {
	m := &Machine{policy: cfg.Policy, refreshAhead: cfg.RefreshAhead, maxRetryAfter: cfg.MaxRetryAfter,
		reuseGrace: cfg.ReuseGrace, fallback: cfg.Fallback, solo: cfg.SoloWhenStoreDown, shared: cfg.Shared}
	if m.policy == nil {
		m.policy = policy.Default()
	}
	if m.maxRetryAfter <= 0 {
		m.maxRetryAfter = DefaultMaxRetryAfter
	}
	return m
}
