package states

import (
	"time"

	"github.com/authfsm/authfsm/policy"
)

// The decisions of processes sharing one token family (see Config.ReuseGrace,
// Config.Fallback, Config.SoloWhenStoreDown, Config.Shared and the states
// Waiting, events Adopt, Wait and TakeOver).

// CrashedHolderCause is the cause of a revocation after a process took over
// a family whose previous lease holder vanished with a refresh in flight,
// outside the server's reuse grace and without a fallback grant.
const CrashedHolderCause = "refresh token probably consumed by a crashed process"

// Orphan is what a process does with a refresh token that a vanished lease
// holder may have spent: it marked a refresh in flight and then neither
// published a pair nor cleared the mark (it crashed after sending, or its
// answer was lost).
type Orphan uint8

const (
	// OrphanReplay: present the refresh token again; the server's reuse
	// grace still covers it.
	OrphanReplay Orphan = iota
	// OrphanFallback: use the fallback grant instead; presenting the token
	// outside the grace would make the server revoke the whole family.
	OrphanFallback
	// OrphanRevoke: neither is possible; the session is revoked with
	// CrashedHolderCause rather than risk the family.
	OrphanRevoke
)

// Orphaned decides what to do at now with a refresh token that a vanished
// holder marked in flight at marked. The mark precedes the server's
// rotation, so measuring the grace from it errs on the safe side.
func (m *Machine) Orphaned(marked, now time.Time) Orphan {
	switch {
	case m.reuseGrace > 0 && now.Sub(marked) < m.reuseGrace:
		return OrphanReplay
	case m.fallback:
		return OrphanFallback
	}
	return OrphanRevoke
}

// Solo reports whether a process whose shared store is unreachable refreshes
// on its own: only when the session allows it (SoloWhenStoreDown) and its
// token is unusable at now. Otherwise the attempt fails transiently.
func (m *Machine) Solo(d *Data, now time.Time) bool {
	return m.solo && !d.Usable(now)
}

// Reread is what a session whose store other processes write found when it
// read the store again after its refresh token was refused (Input.Reread).
type Reread uint8

const (
	// RereadNone: the store was not read again (yet).
	RereadNone Reread = iota
	// RereadSame: the store holds no newer pair than the one refused: the
	// refusal stands.
	RereadSame
	// RereadFailed: the store could not be read (Input.Cause says why).
	RereadFailed
)

// RereadFailedNote ends the cause of a refusal that could not be checked
// against the store: the attempt fails transiently instead of revoking.
const RereadFailedNote = "not final: the shared store could not be read again for a newer pair"

// askReread asks for the store to be read again (Effects.Reread) before a
// final refusal v of the refresh token (Final) is taken in, when other
// processes write the session's store (Config.Shared) and it was not read
// yet (in.Reread): another process may have rotated the token or logged in
// since, and its pair is adopted (InAdopt) rather than the session revoked.
// The session stays Refreshing; the refusal is taken in, and a Suspect one
// counted, when it comes back with what the store held. A misconfigured
// client is refused whatever the store holds.
func (m *Machine) askReread(d *Data, fx *Effects, v policy.Verdict, in *Input) bool {
	if !m.shared || v.Misconfigured || in.Reread != RereadNone || !m.Final(d, v) {
		return false
	}
	fx.Reread, fx.Flight = true, d.Flight
	return true
}

// rereadFailed takes in a final refusal v that could not be checked
// against the store (RereadFailed): a newer pair may be in it, so the
// attempt fails transiently, paced by the policy, instead of revoking.
func (m *Machine) rereadFailed(d *Data, fx *Effects, v policy.Verdict, in *Input, now time.Time) bool {
	if !m.shared || v.Misconfigured || in.Reread != RereadFailed {
		return false
	}
	cause := v.Cause + " (" + RereadFailedNote
	if in.Cause != "" {
		cause += ": " + in.Cause
	}
	m.failed(d, fx, policy.Verdict{Class: policy.Transient, Cause: cause + ")"}, now)
	return true
}
