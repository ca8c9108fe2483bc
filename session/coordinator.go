package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A Coordinator lets the processes of one client share one refresh-token
// family through a store they all reach (a lock file on one host, Redis
// across hosts). Authorization servers that rotate refresh tokens with
// reuse detection make every copy of a refresh token a liability: the first
// process to present it retires the others' copies, and presenting a
// retired one revokes the whole family. So at most one process refreshes at
// a time (it holds the family's refresh lease), it marks the refresh in
// flight before sending, and it publishes the new pair by compare-and-swap
// on the family's generation; the others adopt the published pair.
//
// A Coordinator only stores and reports; what a process does with what it
// reads (adopt, wait, take over, replay inside a reuse grace, fall back,
// give up) is decided by the session's state machine.
//
// Times in a Family are on the coordinator's clock (for Redis, the server's
// TIME), so processes whose clocks disagree still agree on a lease.
//
// Every method must be safe for concurrent use and honour ctx. An error
// that is not one of the sentinels below means the store could not be
// reached or answered nonsense; the session then treats the store as down.
type Coordinator interface {
	// Read returns the family's current state. A family nobody has
	// published to yet has Generation 0 and a zero Pair.
	Read(ctx context.Context) (Family, error)
	// Acquire takes the family's refresh lease for holder for ttl, or
	// extends it when holder holds it already, and reports true. While
	// another holder's lease runs it reports false with that lease. A lease
	// must outlast one refresh request (the request timeout plus a margin).
	// After acquiring, the caller reads the family again: another process
	// may have published while it waited.
	Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error)
	// MarkInFlight records, before the request is sent, that holder is
	// about to present the refresh token of generation gen. It fails with
	// ErrLeaseLost when holder does not hold the lease. The mark stays until
	// Publish or Release(holder, false) clears it, so a process that takes
	// over after the holder crashed learns that the refresh token may have
	// been spent. A mark on the same generation keeps its first instant
	// (InFlight.At), from which the server's reuse grace runs.
	MarkInFlight(ctx context.Context, holder string, gen uint64) error
	// Publish stores pair as generation gen+1 when the family's generation
	// is still gen (compare-and-swap), clears the in-flight mark and
	// releases holder's lease, and returns the new generation. It succeeds
	// even after holder's lease lapsed, because the publisher holds the only
	// copy of a rotated refresh token; it fails with a *GenerationError
	// (errors.Is ErrGenerationMoved) only when another pair was published
	// since gen.
	Publish(ctx context.Context, holder string, gen uint64, pair Token) (uint64, error)
	// Release gives up holder's lease without publishing (a failed
	// attempt). With spent false it also clears holder's in-flight mark:
	// the request certainly was not performed. With spent true the mark
	// stays: the answer was lost, so the refresh token may be consumed.
	// Releasing a lease that holder no longer holds is not an error.
	Release(ctx context.Context, holder string, spent bool) error
	// Wait blocks until the family's generation differs from gen (a newer
	// pair, or a store that lost its state and counts again), or its lease
	// is released or lapses, or ctx ends, and returns the state then.
	// Notifications (Redis pub/sub) can be lost on a disconnect, so an
	// implementation also polls, with jitter.
	Wait(ctx context.Context, gen uint64) (Family, error)
}

// A GenerationWaiter is a Coordinator that can also wait for a newer pair
// alone. Wait returns as soon as no lease is held, which is what a process
// waiting for another's lease needs; a process that only waits for a pair —
// one the server revoked, one without a token yet — would poll with it. A
// session uses WaitGeneration then, when its coordinator has it:
// FileCoordinator, MemoryCoordinator and the Redis coordinator do.
type GenerationWaiter interface {
	// WaitGeneration blocks until the family's generation differs from
	// gen, or ctx ends, and returns the state then. As with Wait, an
	// implementation also polls, so that a lost notification is no lost
	// pair.
	WaitGeneration(ctx context.Context, gen uint64) (Family, error)
}

// A FamilyAcquirer is a Coordinator that can take the lease on condition
// that the family is still at the generation the caller read, and reads
// the family in the same atomic step (under the file's lock, in the Redis
// script). A session asks for the lease with it after reading the family:
// when another process published meanwhile it takes no lease and adopts
// the pair it was handed (no lease written and given back), and when it
// took the lease it does not read the family again, since the family read
// with the lease shows what another process may have published. One round
// trip a refresh fewer, two writes fewer for a process that came late.
// FileCoordinator, MemoryCoordinator and the Redis coordinator are
// FamilyAcquirers (the simulator's store and conform's are not).
type FamilyAcquirer interface {
	// AcquireFamily is Acquire while the family's generation is gen; when
	// it is another, it takes nothing and reports false. It returns the
	// family as the step found it: its Lease is the caller's when it took
	// the lease, the other holder's when another holds it.
	AcquireFamily(ctx context.Context, holder string, ttl time.Duration, gen uint64) (Family, bool, error)
}

// Family is the shared state of one token family.
type Family struct {
	// Pair is the newest published token pair; zero before the first
	// publish. Its Issued and Expiry are absolute instants.
	Pair Token
	// Generation counts publishes: 0 before the first, then 1, 2, …
	Generation uint64
	// Lease is the refresh lease; zero when nobody holds it (or it lapsed).
	Lease Lease
	// InFlight is the refresh marked in flight and neither published nor
	// released; zero when there is none.
	InFlight InFlight
	// Now is the coordinator's clock when the state was read, so a caller
	// can measure Lease.Until and InFlight.At against it.
	Now time.Time
}

// Lease is a family's refresh lease.
type Lease struct {
	// Holder identifies the process holding it (a random nonce per
	// session); empty for none.
	Holder string
	// Until is when the lease lapses unless extended.
	Until time.Time
}

// Held reports whether the lease is held at now.
func (l Lease) Held(now time.Time) bool { return l.Holder != "" && now.Before(l.Until) }

// InFlight describes a refresh marked in flight.
type InFlight struct {
	// Holder marked it; empty for none.
	Holder string
	// Generation is the generation whose refresh token was presented.
	Generation uint64
	// At is when it was marked.
	At time.Time
}

// ErrLeaseLost is returned by Coordinator.MarkInFlight when the caller does
// not hold the family's refresh lease (it lapsed, or another process took
// it over).
var ErrLeaseLost = errors.New("session: refresh lease lost")

// ErrGenerationMoved is matched by the *GenerationError that
// Coordinator.Publish returns when another pair was published meanwhile.
var ErrGenerationMoved = errors.New("session: the family's generation moved")

// GenerationError says that a publish lost a compare-and-swap.
type GenerationError struct {
	// Want is the generation the publisher started from; Got is the
	// family's generation when it tried to publish.
	Want, Got uint64
}

// Error implements error.
func (e *GenerationError) Error() string {
	return fmt.Sprintf("session: publish from generation %d refused: the family is at generation %d", e.Want, e.Got)
}

// Is reports whether target is ErrGenerationMoved.
func (e *GenerationError) Is(target error) bool { return target == ErrGenerationMoved }
