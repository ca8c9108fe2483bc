package states

import "time"

// The decisions of processes sharing one token family (see Config.ReuseGrace,
// Config.Fallback, Config.SoloWhenStoreDown, Config.Shared, protocol.go and
// the states Waiting, events Adopt, Wait and TakeOver).

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
