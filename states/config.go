package states

import (
	"strconv"
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

// DefaultRequestTimeout is the deadline of one refresh request that the
// runtime (session.WithRequestTimeout) and the simulator
// (session.request_timeout) use unless told otherwise: ten seconds.
const DefaultRequestTimeout = 10 * time.Second

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
	// default pass DefaultRefreshAhead. A Coordinated session starts up to
	// a tenth of the margin (at most MaxRefreshSpread) earlier, by a jitter
	// of its own (spread.go).
	RefreshAhead time.Duration
	// MaxRetryAfter bounds a server's Retry-After; 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration

	// The settings below matter to processes sharing one token family
	// (session.Coordinator).

	// ReuseGrace is how long the authorization server still accepts a
	// refresh token after it rotated it (Auth0's "reuse interval", Okta's
	// "grace period", Ory Hydra's oauth2.grant.refresh_token.rotation_grace_period,
	// at most 5 minutes); zero when it accepts none. Inside it, a process taking over from a holder that
	// vanished mid-refresh may present the refresh token again. It
	// matters to a single session too: while its refresh token may have
	// been spent by a request whose answer was lost (Data.MaybeConsumed),
	// the next attempt is due no later than half the grace after the
	// first such request was sent, whatever the policy says, so that the
	// retry arrives while the server still accepts the token.
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
	// a store the session can read again (a token store, a family's
	// coordinator; Coordinated implies it). A final refusal of the grant is
	// then not taken in at once: the machine asks for the store to be read
	// again (Effects.Store: StoreRead), because another process may have
	// refreshed or logged in since; a newer pair there is adopted, one that
	// cannot be read makes the refusal transient ("not final"), and only a
	// store that holds nothing newer lets it revoke.
	Shared bool
	// Coordinated makes the session a process of a token family that
	// shares its pair through a store (session.Coordinator, the
	// simulator's share: store): every attempt goes through the family's
	// protocol (protocol.go), and new pairs are published.
	Coordinated bool
	// Lease is how long a coordinated session takes the family's refresh
	// lease for; zero means LeaseTTL(DefaultLease, 0).
	Lease time.Duration
	// FallbackSameClient reports that the fallback grant authenticates as
	// the same client as the refresh token's requests, so a refusal of the
	// client (invalid_client) refuses it too (see Machine.Fallback).
	FallbackSameClient bool
	// Login says how a session that has nothing it may refresh with gets a
	// new pair (LoginNone by default: a final refusal revokes it, and a
	// session without a token waits in Expired, Data.AwaitsPair).
	Login LoginMode
}

// LoginMode says whether and how a session logs in again (Config.Login).
type LoginMode uint8

const (
	// LoginNone: the session has no login method. A final refusal of its
	// grant revokes it (Deny); with nothing to refresh with it waits in
	// Expired for a pair from outside (NoToken).
	LoginNone LoginMode = iota
	// LoginOutside: a login happens outside the session — SetToken, or a
	// pair another process of its family publishes (authfsm login) — and
	// the session waits for it in NeedsLogin instead of being revoked.
	LoginOutside
	// LoginOwn: the session runs its own login (Effects.Login; the device
	// flow, the browser flow), started by a demand in NeedsLogin; a pair
	// from outside ends the wait as well.
	LoginOwn
)

var loginModeNames = [...]string{LoginNone: "none", LoginOutside: "outside", LoginOwn: "own"}

// String returns the mode's name: none, outside or own.
func (l LoginMode) String() string {
	if int(l) < len(loginModeNames) {
		return loginModeNames[l]
	}
	return "login(" + strconv.Itoa(int(l)) + ")"
}

// LeaseTTL is the refresh lease a coordinated session takes, in the
// runtime and the simulator alike: lease (DefaultLease when zero), and
// never less than the request timeout plus LeaseMargin, so that it
// outlasts the request it covers.
func LeaseTTL(lease, timeout time.Duration) time.Duration {
	if lease <= 0 {
		lease = DefaultLease
	}
	return max(lease, timeout+LeaseMargin)
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
	coordinated   bool
	shared        bool
	sameClient    bool
	lease         time.Duration
	login         LoginMode
}

// NewMachine returns a Machine for cfg.
func NewMachine(cfg Config) *Machine {
	m := &Machine{policy: cfg.Policy, refreshAhead: cfg.RefreshAhead, maxRetryAfter: cfg.MaxRetryAfter,
		reuseGrace: cfg.ReuseGrace, fallback: cfg.Fallback, solo: cfg.SoloWhenStoreDown,
		coordinated: cfg.Coordinated, shared: cfg.Shared || cfg.Coordinated, sameClient: cfg.FallbackSameClient, lease: cfg.Lease,
		login: cfg.Login}
	if m.lease <= 0 {
		m.lease = LeaseTTL(0, 0)
	}
	if m.policy == nil {
		m.policy = policy.Default()
	}
	if m.maxRetryAfter <= 0 {
		m.maxRetryAfter = DefaultMaxRetryAfter
	}
	return m
}
