package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// InputKind says what happened.
type InputKind uint8

const (
	// InWake: the wake-up armed at Effects.WakeAt is due (or any instant the
	// caller wants the machine to catch up with the clock).
	InWake InputKind = iota
	// InDemand: a caller needs a token. It starts a cycle from Expired.
	InDemand
	// InResult: the request the machine asked for (Effects.Send) was
	// answered; see Verdict, Issued, Expiry, Rotated.
	InResult
	// InReject: a resource server refused the current access token.
	InReject
	// InRevoke: the session is revoked explicitly.
	InRevoke
	// InSetToken: a token was supplied from outside (a re-login). With
	// Config.Coordinated the application's pair is then published as the
	// family's next generation (Effects.Store).
	InSetToken
	// InAccept: a resource server accepted the current access token. It
	// ends the probation of a token that a rejection's cycle obtained (it
	// changes no state and records no transition).
	InAccept
	// InAdopt: another process of the token family published a newer pair
	// (Issued, Expiry, Generation); it replaces this session's pair in any
	// state and ends a refresh in flight. A driver that reads the family
	// feeds InFamily instead, and the machine decides.
	InAdopt
	// InBusy: another process holds the family's refresh lease until Until
	// (the answer to StoreAcquire): the session waits (Waiting).
	InBusy
	// InLeaseFree: the lease a waiting session waits for was released (or
	// lapsed) without a new pair: the session takes over now.
	InLeaseFree
	// InFamily: the driver read the family's shared store (the answer to
	// StoreRead, to a StoreAcquire refused because the generation moved,
	// or a report of the watch, Effects.Watch, with Flight 0):
	// Generation, the published pair (Issued, Expiry, Own, NoRefresh),
	// another process's lease (Until) and in-flight mark (Marked).
	InFamily
	// InLeaseHeld: the session holds the family's refresh lease (the
	// answer to StoreAcquire).
	InLeaseHeld
	// InMarked: the refresh is marked in flight (the answer to StoreMark).
	InMarked
	// InLeaseLost: the lease was lost before the mark (StoreMark's
	// session.ErrLeaseLost).
	InLeaseLost
	// InPublished: the pair was published as generation Generation (the
	// answer to StorePublish or StoreSeed).
	InPublished
	// InGenMoved: the publish lost its compare-and-swap: another pair was
	// published since (StorePublish's session.ErrGenerationMoved).
	InGenMoved
	// InStoreDown: the family's store could not be reached for the
	// operation the machine asked for; Detail is the error (scrubbed).
	InStoreDown
	// InThrottled: the shared throttle kept the request of Effects.Send
	// from being sent.
	InThrottled
	// InNoRefresh: the request of Effects.Send could not be presented: the
	// session holds no refresh token (session.ErrNoRefreshToken).
	InNoRefresh
	// InFlush: the session is closing: a publish still pending
	// (Data.Unpublished) is asked for now, whatever its pacing.
	InFlush
	// InLoggedIn: the session's own login (Effects.Login) obtained a pair
	// (Issued, Expiry, NoRefresh; Detail may name the login).
	InLoggedIn
	// InLoginFailed: the session's own login ended without a pair; Detail
	// is its error (scrubbed).
	InLoginFailed
)

// Input is one thing that happened to a session.
type Input struct {
	Kind InputKind
	// Verdict is the classified outcome of the request (InResult).
	Verdict policy.Verdict
	// Flight is the flight number of the attempt the input answers
	// (Effects.Flight); an input of another flight is stale and ignored.
	// A report of the family's watch carries 0.
	Flight uint64
	// Issued and Expiry describe the new token (InResult with policy.OK,
	// InSetToken, InAdopt) or the family's published pair (InFamily; zero
	// Expiry when it has none).
	Issued, Expiry time.Time
	// Rotated reports that the answer (InResult with policy.OK) carries a
	// refresh token other than the one presented.
	Rotated bool
	// Reason, when set, says that a revocation is a logout (InRevoke:
	// ReasonLogout).
	Reason Reason
	// Detail completes the input's reason: the resource server's answer
	// (InReject), the store's error (InStoreDown).
	Detail string
	// Generation is the family's generation (InFamily, InAdopt, InPublished).
	Generation uint64
	// Until is when another process's refresh lease lapses (InBusy,
	// InFamily; zero when no other process holds it).
	Until time.Time
	// Own reports that the family's pair is the session's own: the same
	// access token (InFamily).
	Own bool
	// NoRefresh reports that the family's pair carries no refresh token
	// (InFamily, InAdopt, InSetToken, InLoggedIn).
	NoRefresh bool
	// Removed reports that the family was published to (Generation > 0)
	// and holds no pair, neither an access nor a refresh token: a logout
	// removed it (InFamily).
	Removed bool
	// Marked reports that another process marked a refresh of generation
	// MarkGeneration in flight at MarkedAt, and neither published a pair
	// nor cleared the mark since (InFamily).
	Marked         bool
	MarkGeneration uint64
	MarkedAt       time.Time
}

// Transition is one change of state, with the reason for it.
type Transition struct {
	At       time.Time
	From, To State
	Event    Event
	// Reason says why, Detail completes it (see Cause).
	Reason Reason
	Detail string
	// Generation is the family's generation of an adopted pair.
	Generation uint64
	// Sent reports that the transition ends an attempt whose request was
	// sent (or tried: a refused connection counts); Class is then the
	// class of its outcome, as the machine took it.
	Sent  bool
	Class policy.Class
	// Attempt is the number of the attempt that starts or ends with this
	// transition (0 for transitions outside a refresh).
	Attempt int
	// NextAt is when the next attempt is due (Fail), or when the next cycle
	// starts (Postpone); zero otherwise.
	NextAt time.Time
}

// Cause returns the transition's reason in words, without secrets: "502
// Bad Gateway", "access token expired".
func (t Transition) Cause() string { return format(t.Reason, t.Detail, t.Generation) }

// maxTransitions bounds the transitions one Step can make (set_token with an
// expired token, then expire and refresh).
const maxTransitions = 3

// Effects is what the caller must do after a Step, in this order: record
// the transitions, install (Install), give up or keep the lease (Lease),
// perform the store operation (Store) or send the request (Send), save
// (Save), watch the family or stop (Watch), arm the wake-up (WakeAt).
// Each of Store and Send is answered by one input tagged with Flight.
type Effects struct {
	// StartRefresh reports that an attempt (flight Flight) starts: its
	// first action is Store or Send.
	StartRefresh bool
	// Flight tags Store and Send: their answers carry it.
	Flight uint64
	// Send asks for the request of Grant to be sent now; its answer is fed
	// as InResult (or InThrottled).
	Send Grant
	// Store asks for one operation on the family's shared store; its
	// answer is fed as the input the operation names (or InStoreDown).
	Store StoreOp
	// Generation is the generation StoreMark marks and StorePublish and
	// StoreSeed publish from.
	Generation uint64
	// For is how long StoreAcquire takes the lease for, or LeaseKeep
	// keeps it for.
	For time.Duration
	// Lease asks for the session's lease to be kept (for For) or released;
	// ClearMark clears the session's in-flight mark with it. Nothing is
	// fed back: the store's answer does not matter.
	Lease     LeaseOp
	ClearMark bool
	// Install says what to install of the pair the input carried (an
	// answer's, the family's, the application's); InstalledBy is the event
	// that installed it (Succeed, Adopt, SetToken).
	Install     Install
	InstalledBy Event
	// Save asks a session with a store of its own (no coordination) to
	// save its pair.
	Save bool
	// Watch reports that the family must be watched for a newer pair, each
	// report fed as InFamily with Flight 0; false stops the watch (see
	// Machine.Watching). WatchLease: the lease's release matters too (a
	// session waiting for another process's lease takes over then);
	// otherwise only a newer pair does.
	Watch, WatchLease bool
	// WatchLogout reports that the family must be watched for a logout
	// (its pair removed by another process, Input.Removed) while nothing
	// else is watched for (Watch false; see Machine.WatchingLogout), each
	// report fed as InFamily with Flight 0. A valid session adopts a newer
	// pair such a report shows, so the watch reports every publish; the
	// simulator, which models no logout, reports those alone.
	WatchLogout bool
	// Login asks for the session's own login (Config.Login LoginOwn) to
	// run now; its end is fed as InLoggedIn or InLoginFailed, tagged
	// Flight.
	Login bool
	// Logout asks for the session's pair to be revoked at the
	// authorization server and removed from its store or family (the
	// answer to InRevoke with ReasonLogout). Nothing is fed back.
	Logout bool
	// WakeAt is when the caller must feed InWake next; zero means no timer.
	WakeAt time.Time
	n      int
	trans  [maxTransitions]Transition
}

// Transitions returns the transitions the step made, oldest first, to be
// recorded by the caller. The slice aliases e.
func (e *Effects) Transitions() []Transition { return e.trans[:e.n] }
