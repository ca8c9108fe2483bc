package states

// The kinds of the effects the machine asks for (Effects).

// Grant is which grant a request presents (Effects.Send).
type Grant uint8

const (
	// GrantNone: no request.
	GrantNone Grant = iota
	// GrantRefresh: the refresh token.
	GrantRefresh
	// GrantReplay: the refresh token a vanished holder may have presented
	// already, again, inside the server's reuse grace (Machine.Orphaned).
	GrantReplay
	// GrantFallback: the fallback grant (Config.Fallback) instead of the
	// refresh token.
	GrantFallback
)

var grantNames = [...]string{GrantNone: "none", GrantRefresh: "refresh", GrantReplay: "replay", GrantFallback: "fallback"}

// String returns the grant's name.
func (g Grant) String() string {
	if int(g) < len(grantNames) {
		return grantNames[g]
	}
	return "grant(?)"
}

// StoreOp is an operation on the family's shared store (Effects.Store).
type StoreOp uint8

const (
	// StoreNone: none.
	StoreNone StoreOp = iota
	// StoreRead: read the family; feed InFamily.
	StoreRead
	// StoreAcquire: take the refresh lease for Effects.For while the
	// family is still at generation Effects.Generation, the one the
	// session read; feed InLeaseHeld or InBusy, or, from a store that
	// acquires on that condition (session.FamilyAcquirer), InFamily with
	// the family when its generation moved, the lease not taken.
	StoreAcquire
	// StoreMark: mark the refresh of generation Effects.Generation in
	// flight; feed InMarked or InLeaseLost.
	StoreMark
	// StorePublish: publish the session's pair from generation
	// Effects.Generation (compare-and-swap; it clears the mark and
	// releases the lease); feed InPublished or InGenMoved.
	StorePublish
	// StoreSeed: the store lost the family's state: publish the session's
	// pair from the store's generation Effects.Generation; feed
	// InPublished or InGenMoved.
	StoreSeed
)

var storeNames = [...]string{StoreNone: "none", StoreRead: "read", StoreAcquire: "acquire", StoreMark: "mark",
	StorePublish: "publish", StoreSeed: "seed"}

// String returns the operation's name.
func (o StoreOp) String() string {
	if int(o) < len(storeNames) {
		return storeNames[o]
	}
	return "store(?)"
}

// LeaseOp is what becomes of the session's lease after an attempt
// (Effects.Lease). Nothing is fed back.
type LeaseOp uint8

const (
	// LeaseNone: nothing.
	LeaseNone LeaseOp = iota
	// LeaseKeep: extend the lease for Effects.For (through a retry), so the
	// other processes keep waiting instead of retrying at once; clear the
	// in-flight mark first when Effects.ClearMark says so.
	LeaseKeep
	// LeaseRelease: give the lease up; clear the mark too when
	// Effects.ClearMark says so (the refresh token certainly was not
	// spent), else leave it (session.Coordinator.Release's spent).
	LeaseRelease
)

// Install says what a driver installs of the pair an input carried
// (Effects.Install).
type Install uint8

const (
	// InstallNone: nothing.
	InstallNone Install = iota
	// InstallPair: the whole pair.
	InstallPair
	// InstallPairDead: the pair without its refresh token, which is known
	// to be refused or spent (the fallback grant's answer carries the old
	// one, or none).
	InstallPairDead
	// InstallRefresh: only its refresh token: the machine refused the
	// access token (an expiry that did not advance), but a rotating server
	// retired the old refresh token the moment it issued the new one.
	InstallRefresh
)
