package sim

import "github.com/authfsm/authfsm/declare"

// UseSession replaces the scenario's session block with s, a deployed
// profile's (declare.ParseNode, as `authfsm agent` reads it), so that
// `authfsm sim --profile` simulates the settings the agent runs, its
// throttle included, and checks what the rest of the scenario requires of
// it: the profile's lease must outlast one refresh through the scenario's
// shared store. The profile's family settings replace the scenario's too:
// a profile that declares no reuse_grace runs without one whatever grace
// the simulated server (token.reuse_grace) has, as the agent would.
func (sc *Scenario) UseSession(s declare.Session) error {
	if sc.Share.Kind == ShareStore && !sc.leaseOutlastsRefresh(s) {
		return &Error{File: sc.File, Key: "session.lease", Kind: ErrInvalid,
			Msg: "the profile's lease (" + s.Lease.String() + ") does not outlast one refresh with its request_timeout (" + s.RequestTimeout.String() +
				") and the scenario's store round trips (" + sc.Share.Latency.String() + ")"}
	}
	sc.Session = s
	return nil
}
