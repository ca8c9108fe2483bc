package sim

import (
	"time"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/states"
)

// Scenario is one parsed and validated scenario file. Its fields mirror the
// keys of docs/SCENARIOS.md; Parse fills in the defaults for omitted keys.
type Scenario struct {
	// File is the name the scenario was parsed from, for error messages.
	File        string
	Name        string
	Description string
	// Seed feeds the run's single random generator.
	Seed     uint64
	Duration time.Duration
	Token    Token
	// ClockSkew is the client's clock minus the server's.
	ClockSkew time.Duration
	// Session is the client under test: the session block, which an
	// agent profile declares too (declare.Session).
	Session  declare.Session
	Server   Server
	Workload []Work
	Fleet    Fleet
	// Share says how the processes of one token family coordinate; it
	// applies only with Fleet.Families.
	Share  Share
	Expect Expect
	// Profile, when set, names where Session came from in place of the
	// file's session block ("api of agent.yaml": an agent profile, or
	// "session.yaml": a declared session's file, as authfsm sim --profile
	// runs them; see UseSession); Report's first line names it. Empty, the
	// default, for the file's own.
	Profile string
}

// Token describes what the token server issues.
type Token struct {
	TTL           time.Duration
	RefreshTTL    time.Duration // 0: refresh tokens never expire
	Rotate        bool
	ReuseGrace    time.Duration
	OmitExpiresIn bool
	// ReuseDetection: presenting a retired refresh token outside the reuse
	// grace revokes the whole family, its newest token included (Auth0,
	// Okta, ory/fosite).
	ReuseDetection bool
}

// Server describes the token endpoint's latency and faults.
type Server struct {
	Latency time.Duration
	// Faults are in file order: the first that covers an instant decides.
	Faults []Fault
}

// FaultKind names a way the token endpoint (or the resource server) fails.
type FaultKind uint8

// The fault kinds of docs/SCENARIOS.md.
const (
	FaultStatus       FaultKind = iota // an HTTP status with a proxy's or an OAuth2 body
	FaultHang                          // no answer until the client times out
	FaultRefused                       // connection refused
	FaultHTML200                       // 200 with an HTML page
	FaultMalformed                     // 200 with a broken JSON body
	FaultLostResponse                  // refresh performed, client sees 502
	FaultRevoke                        // refresh-token family revoked for good
	FaultRejectAccess                  // at: the resource server rejects the current access token; from/to: every token
	FaultCrashHolder                   // a process crashes right after sending a refresh, which the server performs
	FaultStoreDown                     // the shared store is unreachable
	numFaultKinds
)

var faultKindNames = [numFaultKinds]string{
	FaultStatus: "status", FaultHang: "hang", FaultRefused: "refused", FaultHTML200: "html200",
	FaultMalformed: "malformed", FaultLostResponse: "lost_response", FaultRevoke: "revoke",
	FaultRejectAccess: "reject_access", FaultCrashHolder: "crash_holder", FaultStoreDown: "store_down",
}

// String returns the kind's name as written in scenario files.
func (k FaultKind) String() string {
	if k < numFaultKinds {
		return faultKindNames[k]
	}
	return "fault(?)"
}

// Fault is one entry of server.faults. A window fault covers From <= t < To;
// an instant fault (At) takes effect at From and lasts to the end of the run.
type Fault struct {
	Kind     FaultKind
	From, To time.Duration
	// Instant reports that the fault was written with at: (To is then the
	// run's duration).
	Instant bool
	// Status, Error, Description and RetryAfter configure a status fault:
	// with Error (or with status 400, 401 or 403, as invalid_request) it
	// answers a JSON OAuth2 error body whose error_description is
	// Description; otherwise a proxy's page.
	Status      int
	Error       string
	Description string
	RetryAfter  time.Duration
	// Restart is how long a process crashed by a crash_holder fault takes
	// to come back.
	Restart time.Duration
	// Line is the fault's line in the file.
	Line int
}

// covers reports whether the fault is in effect at t.
func (f *Fault) covers(t time.Duration) bool { return f.From <= t && t < f.To }

// endpoint reports whether the fault decides the token endpoint's answers.
func (f *Fault) endpoint() bool {
	return f.Kind != FaultRejectAccess && f.Kind != FaultCrashHolder && f.Kind != FaultStoreDown
}

// WorkKind names a workload pattern.
type WorkKind uint8

// The workload kinds of docs/SCENARIOS.md.
const (
	WorkRequests WorkKind = iota // one call every Every, between From and To
	WorkBurst                    // Count concurrent calls at At
	// WorkLogin: at At the user logs in again, as authfsm login does: the
	// server starts a new grant for each family, published to its shared
	// store (share: store), which its processes adopt; without a shared
	// store each process is given its own pair (SetToken).
	WorkLogin
)

// Work is one entry of the workload: the application calls of every session.
type Work struct {
	Kind     WorkKind
	Every    time.Duration
	From, To time.Duration // To is the run's duration when omitted
	At       time.Duration
	Count    int
	// Line is the entry's line in the file.
	Line int
}

// Fleet describes many sessions sharing one token server.
type Fleet struct {
	Sessions int
	// ServerCapacity is the number of token requests the server answers per
	// second; 0 is unlimited.
	ServerCapacity int
	StartSpread    time.Duration
	// Families splits the sessions evenly into this many refresh-token
	// families: the sessions of one family are processes of one client
	// that start with the same refresh token. 0 gives every session its
	// own family.
	Families int
	// WithoutToken is how many processes of each family (its last ones)
	// start with no token at all, no refresh token either: they wait,
	// unrevoked, for the family's first pair (share: store), or for good
	// when the family shares nothing. At most one less than the smallest
	// family; 0 by default.
	WithoutToken int
	// Login says whether the processes have a login method
	// (states.Config.Login): LoginNone by default; LoginOutside makes a
	// process that has nothing it may refresh with (no token yet, a final
	// refusal, a crashed holder's spent token) wait in needs_login,
	// serving nothing and sending nothing, for a login (WorkLogin), as
	// authfsm agent's profiles with a login block do.
	Login states.LoginMode
}

// ShareKind says how the processes of one family coordinate.
type ShareKind uint8

// The share kinds of the scenario format.
const (
	// ShareNone: each process refreshes its own copy of the pair, as naive
	// clients do.
	ShareNone ShareKind = iota
	// ShareStore: a shared store with a refresh lease, an in-flight mark
	// and compare-and-swap publishing, as the runtime's session.Coordinator.
	ShareStore
)

var shareKindNames = [...]string{ShareNone: "none", ShareStore: "store"}

// String returns the kind's name as written in scenario files.
func (k ShareKind) String() string {
	if int(k) < len(shareKindNames) {
		return shareKindNames[k]
	}
	return "share(?)"
}

// Share describes the coordination of a family's processes.
type Share struct {
	Kind ShareKind
	// Latency is one round trip to the store (kind store). The refresh
	// lease is the session's (Session.Lease; the file's share.lease gives
	// it too).
	Latency time.Duration
}

// leaseOutlastsRefresh reports whether s's lease outlasts one refresh of a
// family sharing the scenario's store: the request timeout plus the two
// store round trips between the acquire and the mark.
func (sc *Scenario) leaseOutlastsRefresh(s declare.Session) bool {
	return s.Lease > s.RequestTimeout+2*sc.Share.Latency
}

// Expect holds the scenario's expectations; a nil field is not checked.
type Expect struct {
	// FinalState is a state name or "mixed" (fleets).
	FinalState         *string
	NeverStates        []states.State
	MaxFailedRequests  *int
	MaxRefreshRequests *int
	MaxRecovery        *time.Duration
	// MaxFamilyRevocations bounds the families revoked by the server's
	// reuse detection or lost to a refusal.
	MaxFamilyRevocations *int
}

// Defaults for omitted keys; they are the values docs/SCENARIOS.md shows.
// The session block's are declare.Default's, the runtime's (its lease
// states.DefaultLease, which share.lease also gives).
const (
	DefaultSeed         = 1
	DefaultLatency      = 50 * time.Millisecond
	DefaultStoreLatency = time.Millisecond
)

// defaults returns a scenario with every optional key at its default.
func defaults() Scenario {
	return Scenario{
		Seed:    DefaultSeed,
		Session: declare.Default(),
		Server:  Server{Latency: DefaultLatency},
		Fleet:   Fleet{Sessions: 1},
		Share:   Share{Latency: DefaultStoreLatency},
	}
}

// windows returns the indexes of the faults written with from:/to:, the
// ones recoveries are reported for.
func (s *Scenario) windows() []int {
	var w []int
	for i := range s.Server.Faults {
		if !s.Server.Faults[i].Instant {
			w = append(w, i)
		}
	}
	return w
}

// SetPolicyKind replaces the kind of the session's policy (the --policy
// option), keeping its other parameters.
func (s *Scenario) SetPolicyKind(kind string) error {
	spec := s.Session.Policy.WithKind(kind)
	if _, err := spec.Build(); err != nil {
		return err
	}
	s.Session.Policy = spec
	return nil
}
