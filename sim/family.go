package sim

// family is the token server's record of one refresh-token family: the
// sessions of a family are processes of one client that started with the
// same refresh token. It holds no pointers, so that a million of them are
// one flat allocation.
type family struct {
	// rtIssued is when the current refresh token was issued.
	rtIssued int64
	// rtGen numbers the current refresh token (1 for the family's first,
	// 0 before any session of the family started).
	rtGen uint32
	// tokSeq numbers the access tokens issued to the family; the resource
	// server rejects outright those up to rejGen (reject_access).
	tokSeq, rejGen uint32
	// revoked: reuse detection revoked the family, every token of it.
	revoked bool
	// lost: the family is counted in Stats.FamilyRevocations.
	lost bool
}

// store is the shared store of one family (share: store), as
// session.Coordinator describes it. Times are virtual instants.
type store struct {
	// The published pair: when its access token was issued and expires on
	// the client's clock (offsets from epoch), and when the server issued it.
	pubIssued, pubExpiry, pubTokIssued int64
	// leaseUntil is when the refresh lease lapses; markAt is when the
	// in-flight mark was first set for its generation.
	leaseUntil, markAt int64
	// gen counts publishes; pubRT and pubTok number the published refresh
	// and access tokens.
	gen, pubRT, pubTok uint32
	// leaseHolder and markHolder identify a process incarnation (session.holder);
	// 0 is nobody. markGen is the generation whose refresh token the marked
	// refresh presented.
	leaseHolder, markHolder, markGen uint32
	// flyer is the holder whose refresh is in flight, for the invariant
	// that a family has at most one (a crashed holder's excepted).
	flyer uint32
	// pubDead: the published pair came from the fallback grant; its
	// refresh token is not to be presented (the runtime publishes none).
	pubDead bool
}

// famOf returns the family of session i: the sessions are split evenly,
// in order, among the families.
func (r *run) famOf(i uint32) uint32 {
	if len(r.fams) == len(r.ss) {
		return i // one family per session: no division on the hot path
	}
	return uint32(uint64(i) * uint64(len(r.fams)) / uint64(len(r.ss)))
}

// famRange returns the sessions [lo, hi) of family f.
func (r *run) famRange(f uint32) (lo, hi uint32) {
	n, k := uint64(len(r.ss)), uint64(len(r.fams))
	return uint32((uint64(f)*n + k - 1) / k), uint32((uint64(f+1)*n + k - 1) / k)
}

// familyLost counts family f, of session i, in Stats.FamilyRevocations,
// once.
func (r *run) familyLost(i, f uint32) {
	if fam := &r.fams[f]; !fam.lost {
		fam.lost = true
		r.stats.FamilyRevocations++
		if r.blame.family < 0 && r.stats.FamilyRevocations > r.blame.familyLimit {
			r.blame.family = int32(i)
		}
	}
}

// initRetired sizes the ring of retirement instants that reuse_grace needs:
// for each family, when each of its last ringK refresh tokens was issued
// (which is when the one before it retired). A family of p processes that
// share nothing can fall p generations behind within one grace period, so
// the ring holds twice the largest family, at least 8; a token retired
// further back counts as outside the grace.
func (r *run) initRetired() {
	if !r.sc.Token.Rotate || r.grace == 0 {
		return
	}
	n, k := len(r.ss), len(r.fams)
	size := uint32(8)
	for size < uint32(2*((n+k-1)/k)) {
		size *= 2
	}
	r.ringK = size
	r.retired = make([]int64, k*int(size))
	adviseHuge(r.retired)
}

// issued records that family f's refresh token gen was issued at t.
func (r *run) issued(f, gen uint32, t int64) {
	if r.retired != nil {
		r.retired[int(f)*int(r.ringK)+int(gen%r.ringK)] = t
	}
}

// graced reports whether family f's retired refresh token gen is still
// within the reuse grace at t.
func (r *run) graced(f, gen uint32, t int64) bool {
	if r.retired == nil || r.fams[f].rtGen-(gen+1) >= r.ringK {
		return false
	}
	return t < r.retired[int(f)*int(r.ringK)+int((gen+1)%r.ringK)]+r.grace
}
