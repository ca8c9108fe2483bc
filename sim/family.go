package sim

// family is the token server's record of one refresh-token family: the
// sessions of a family are processes of one client that started with the
// same refresh token. It holds no pointers, so that a million of them are
// one flat allocation.
type family struct {
	// rtIssued is when the current refresh token was issued; rtRetiredAt
	// is when the token a client last presented was retired (for
	// reuse_grace).
	rtIssued, rtRetiredAt int64
	// rtGen numbers the current refresh token (1 for the family's first,
	// 0 before any session of the family started).
	rtGen uint32
	// tokSeq numbers the access tokens issued to the family; the resource
	// server rejects outright those up to rejGen (reject_access).
	tokSeq, rejGen uint32
}

// famOf returns the family of session i: the sessions are split evenly,
// in order, among the families.
func (r *run) famOf(i uint32) uint32 {
	return uint32(uint64(i) * uint64(len(r.fams)) / uint64(len(r.ss)))
}
